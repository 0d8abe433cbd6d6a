"""Keras layers: convolutions on small images, spectral normalization, the
adversary, serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import layers


@pytest.mark.parametrize('height,width,kernel_size', [
    (2, 2, 3), (1, 1, 3), (3, 3, 3), (2, 1, 3), (1, 1, 1)])
def test_conv_stack_on_small_images_equals_the_convolutions(
    height, width, kernel_size):
  stack = layers.ConvStack(7, 6, kernel_size, dtype='float64')
  x = tf.random.stateless_normal((3, height, width, 4), [1, 2],
                                 dtype=tf.float64)
  stack.build(x.shape)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    as_matmul = stack(x)
    convolved = stack.conv_out(stack.conv_in(x))
  variables = [x] + stack.trainable_variables
  np.testing.assert_allclose(as_matmul, convolved, rtol=1e-12, atol=1e-12)
  for a, b in zip(tape.gradient(as_matmul, variables),
                  tape.gradient(convolved, variables)):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_spectral_norm_converges_to_unit_norm_with_gradient_through_sigma():
  layer = layers.SpectralNormDense(30)
  x = tf.random.normal((5, 20), seed=1)
  layer(x)
  layer.kernel.assign(3. * layer.kernel + tf.random.normal((20, 30), seed=2))
  before = np.linalg.svd(layer.normalized_kernel().numpy(), compute_uv=False)
  for _ in range(100):
    layer(x, training=True)
  sigma = np.linalg.svd(layer.normalized_kernel().numpy(), compute_uv=False)
  assert abs(sigma[0] - 1.) < 1e-2 < abs(before[0] - 1.)
  # The gradient of sigma(W) w.r.t. W is u v^T: scaling W leaves W / sigma
  # unchanged, so the gradient of a function of W_SN is orthogonal to W.
  with tf.GradientTape() as tape:
    out = tf.reduce_sum(layer(x) ** 2)
  grad = tape.gradient(out, layer.kernel)
  assert abs(np.sum(grad * layer.kernel.numpy())) < 1e-4 * np.linalg.norm(grad)


def test_discriminator_shapes_and_normalized_layers():
  critic = layers.Discriminator()
  codes = tf.random.normal((7, 64), seed=3)
  assert critic(codes, training=True).shape == (7,)
  kernels = [w.shape for w in critic.trainable_weights if len(w.shape) == 2]
  assert kernels == [(64, 400), (800, 800), (800, 1)]
  for _ in range(20):
    critic(codes, training=True)
  for dense in (critic.dense_in, critic.dense_hidden, critic.dense_out):
    top = np.linalg.svd(dense.normalized_kernel().numpy(), compute_uv=False)[0]
    assert abs(top - 1.) < 0.05
  assert len(critic.non_trainable_weights) == 3  # the u vectors


def test_concatenated_relu():
  out = layers.ConcatenatedReLU()(tf.constant([[1., -2.]]))
  np.testing.assert_array_equal(out, [[1., 0., 0., 2.]])


def test_layers_round_trip_through_keras_config():
  for layer in (layers.ConvStack(5, 3, kernel_size=1),
                layers.ShiftAndLogScale(4, 2, conv=True),
                layers.SpectralNormDense(3), layers.Discriminator((8, 16))):
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
  restored = keras.saving.deserialize_keras_object(
      keras.saving.serialize_keras_object(layers.DenseStack(4, 6)))
  assert restored.units == 6

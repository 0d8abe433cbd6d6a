"""The bijectors in a user's own TFP distribution (docs/bijectors.md)."""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

import bijectors
import layers
import official
from official.data import load_mnist

tfb, tfd = tfp.bijectors, tfp.distributions


def small_digits(count, seed):
  """MNIST digits at 8x8 in [0, 1], uniformly dequantized."""
  images, _ = load_mnist('train')
  x = tf.image.resize(images[:count, 2:26, 2:26, None] / 255., (8, 8),
                      method='area')
  noise = tf.random.stateless_uniform(x.shape, [seed, 0]) / 256.
  return tf.cast(x, tf.float32) + noise


def multiscale_flow():
  """x (8, 8, 1) -> u (64,): two scales, the second on half the channels."""
  coupling = lambda units: bijectors.AffineCoupling(
      layers.ShiftAndLogScale(16, units, conv=True),
      layers.ShiftAndLogScale(16, units, conv=True))
  inner = tfb.Chain([bijectors.Householder(8), coupling(4),
                     bijectors.CheckerboardSubsample(preserve_streams=False)])
  return tfb.Chain([
      bijectors.FactorOut(inner, num_keep=2, event_shape=[4, 4, 4]),
      bijectors.Split(num_keep=2, epsilon=0.3),
      bijectors.Householder(4), coupling(2),
      bijectors.CheckerboardSubsample(preserve_streams=False)])


def test_custom_flow_trains_with_tfp_math_minimize():
  flow = multiscale_flow()
  digits = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), [64]), tfb.Invert(flow))
  train, held_out = small_digits(512, seed=0), small_digits(512, seed=1)[256:]
  before = float(tf.reduce_mean(digits.log_prob(held_out)))
  variables = digits.trainable_variables  # complete: the layers are built
  assert len(variables) == 2 * 2 * 4 + 2  # 2 couplings x 2 nets x 2 convs
  optimizer = keras.optimizers.Adam(3e-3)
  optimizer.build(variables)
  losses = tfp.math.minimize(
      lambda: -tf.reduce_mean(digits.log_prob(train)), num_steps=150,
      optimizer=optimizer, trainable_variables=variables)
  after = float(tf.reduce_mean(digits.log_prob(held_out)))
  assert losses[-1] < losses[0] - 50.
  assert after > before + 50.  # nats per 64-pixel image, on held-out digits
  assert digits.sample(3, seed=2).shape == (3, 8, 8, 1)


def test_trained_model_flow_as_a_tfp_distribution():
  model = official.build_model('pie_mnist', conv_hidden=8, dense_hidden=16,
                               steps=1)
  images, _ = load_mnist('train')
  pixels = tf.constant(images[:64, ..., None], tf.float32)
  optimizer = keras.optimizers.Adam(1e-3)
  for _ in range(10):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(model.bits_per_dim(pixels))
    optimizer.apply_gradients(zip(
        tape.gradient(loss, model.trainable_variables),
        model.trainable_variables))
  distribution = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), [model.code_size]),
      tfb.Invert(model.flow))
  samples = distribution.sample(4, seed=3)
  assert samples.shape == (4, 28, 28, 1)
  x = (pixels[:4] + 0.5) / 256.
  np.testing.assert_allclose(distribution.log_prob(x), model.log_prob(x),
                             rtol=1e-5)


def test_checkpoint_of_a_flow_saves_each_weight_once_and_restores(tmp_path):
  flow = multiscale_flow()
  x = small_digits(4, seed=0)
  # A new tensor per call: TFP caches forward() by its input tensor.
  forward = lambda: flow.forward(tf.identity(x)).numpy()
  u = forward()
  variables = flow.trainable_variables
  path = tf.train.Checkpoint(flow=flow).write(str(tmp_path / 'flow'))
  saved = [name for name in tf.train.list_variables(path)
           if name[0].endswith('VARIABLE_VALUE')]
  assert len(saved) == len(variables) == 2 * 2 * 4 + 2
  assert sum(np.prod(shape) for _, shape in saved) == sum(
      np.prod(v.shape) for v in variables)
  for v in variables:
    v.assign(tf.zeros_like(v))
  assert not np.allclose(forward(), u)
  tf.train.Checkpoint(flow=flow).read(path).assert_consumed()
  np.testing.assert_array_equal(forward(), u)


def test_multiscale_chain_takes_any_leading_shape():
  digits = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), [64]), tfb.Invert(multiscale_flow()))
  x = small_digits(6, seed=0)
  expected = digits.log_prob(x).numpy()
  for sample_shape in [(), (3,), (2, 3)]:
    samples = digits.sample(sample_shape, seed=4)
    assert samples.shape == sample_shape + (8, 8, 1)
    assert digits.log_prob(tf.identity(samples)).shape == sample_shape
  grid = tf.reshape(x, (2, 3, 8, 8, 1))
  np.testing.assert_allclose(digits.log_prob(grid), expected.reshape(2, 3),
                             rtol=1e-5)
  unknown = tf.function(digits.log_prob, input_signature=[
      tf.TensorSpec([None, None, 8, 8, 1])])
  np.testing.assert_allclose(unknown(grid), expected.reshape(2, 3), rtol=1e-5)
  compiled = tf.function(digits.log_prob, jit_compile=True)
  np.testing.assert_allclose(compiled(tf.identity(grid)),
                             expected.reshape(2, 3), rtol=1e-5, atol=1e-4)


def test_a_float64_base_needs_no_dtype_argument():
  """The flow's arithmetic follows the base distribution's dtype: float32
  networks and Householder vectors, float64 couplings and reflections."""
  flow = tfb.Chain([
      bijectors.Householder(channels=8),
      bijectors.AffineCoupling(layers.ShiftAndLogScale(16, 4),
                               layers.ShiftAndLogScale(16, 4), event_ndims=1)])
  dist = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(tf.constant(0., tf.float64), 1.), [8]), flow)
  x = dist.sample(5, seed=1)
  assert x.dtype == dist.log_prob(x).dtype == tf.float64
  round_trip = flow.inverse(tf.identity(flow.forward(tf.identity(x))))
  assert float(tf.reduce_max(tf.abs(round_trip - x))) < 1e-12
  # Asked for, the vectors are float64 too, and so must the inputs be.
  both = bijectors.Householder(channels=8, dtype=tf.float64)
  assert both.vectors.dtype == tf.float64
  assert both.forward(x).dtype == tf.float64

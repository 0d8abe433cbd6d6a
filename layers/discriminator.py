"""The latent-space adversary of the generative RevNet (CelebA AAE)."""

import keras
from keras import ops

from layers.spectral_norm_dense import SpectralNormDense

__all__ = ['ConcatenatedReLU', 'Discriminator']


@keras.saving.register_keras_serializable(package='invertible_ae')
class ConcatenatedReLU(keras.layers.Layer):
  """`x -> [max(x, 0), max(-x, 0)]` on the last axis (Shang et al., 2016)."""

  def call(self, inputs):
    return ops.concatenate([ops.relu(inputs), ops.relu(-inputs)], axis=-1)

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (2 * input_shape[-1],)


@keras.saving.register_keras_serializable(package='invertible_ae')
class Discriminator(keras.layers.Layer):
  """Spectral-normalized MLP on prior codes: 64 -> 400, concatenated ReLU
  (800) -> 800, ReLU -> 1 (generative-reversible-networks, Sec. 3.1)."""

  def __init__(self, hidden=(400, 800), **kwargs):
    super().__init__(**kwargs)
    self.hidden = tuple(hidden)

  def build(self, input_shape):
    first, second = self.hidden
    self.dense_in = SpectralNormDense(first, dtype=self.dtype_policy,
                                      name='dense_in')
    self.crelu = ConcatenatedReLU(dtype=self.dtype_policy, name='crelu')
    self.dense_hidden = SpectralNormDense(second, dtype=self.dtype_policy,
                                          name='dense_hidden')
    self.dense_out = SpectralNormDense(1, dtype=self.dtype_policy,
                                       name='dense_out')
    self.dense_in.build(input_shape)
    self.dense_hidden.build(tuple(input_shape[:-1]) + (2 * first,))
    self.dense_out.build(tuple(input_shape[:-1]) + (second,))

  def call(self, codes, training=False):
    h = self.crelu(self.dense_in(codes, training=training))
    h = ops.relu(self.dense_hidden(h, training=training))
    return ops.squeeze(self.dense_out(h, training=training), axis=-1)

  def get_config(self):
    return {**super().get_config(), 'hidden': list(self.hidden)}

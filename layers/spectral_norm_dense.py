"""Dense layer with Miyato et al.'s spectral normalization."""

import keras
from keras import ops

__all__ = ['SpectralNormDense']


@keras.saving.register_keras_serializable(package='invertible_ae')
class SpectralNormDense(keras.layers.Layer):
  """`y = x W_SN + b` with `W_SN = W / sigma(W)` (Miyato et al., 2018, Eq. 8).

  `sigma(W)`, the largest singular value, is estimated by power iteration with
  a persistent vector `u` (non-trainable state): in every training call one
  iteration `v = normalize(W u)`, `u = normalize(W^T v)` refines `u`, and
  `sigma = v^T W u`. The gradient flows through `sigma` (with `u` and `v`
  held constant), which is the paper's reparametrization, unlike
  `keras.layers.SpectralNormalization`, which overwrites the kernel.
  """

  def __init__(self, units, power_iterations=1, **kwargs):
    super().__init__(**kwargs)
    self.units = units
    self.power_iterations = power_iterations

  def build(self, input_shape):
    fan_in = input_shape[-1]
    self.kernel = self.add_weight(
        shape=(fan_in, self.units), name='kernel',
        initializer=keras.initializers.VarianceScaling(1. / 3., 'fan_in',
                                                       'uniform'))
    self.bias = self.add_weight(shape=(self.units,), initializer='zeros',
                                name='bias')
    # Every replica computes the same u, so the first replica's update is
    # the one kept under tf.distribute.
    self.u = self.add_weight(
        shape=(self.units,), trainable=False, name='u',
        initializer=keras.initializers.RandomNormal(),
        aggregation='only_first_replica')

  def _normalize(self, t):
    return t / (ops.sqrt(ops.sum(t * t)) + 1e-12)

  def normalized_kernel(self, training=False):
    """`W / sigma(W)`; in training, first refines `u` by power iteration."""
    u = ops.convert_to_tensor(self.u)
    v = self._normalize(ops.matmul(self.kernel, u))
    if training:
      for _ in range(self.power_iterations):
        v = self._normalize(ops.matmul(self.kernel, u))
        u = self._normalize(ops.matmul(v, self.kernel))
      u = ops.stop_gradient(u)
      v = ops.stop_gradient(v)
      self.u.assign(u)
    sigma = ops.sum(v * ops.matmul(self.kernel, u))
    return self.kernel / sigma

  def call(self, inputs, training=False):
    return ops.matmul(inputs, self.normalized_kernel(training)) + self.bias

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.units,)

  def get_config(self):
    return {**super().get_config(), 'units': self.units,
            'power_iterations': self.power_iterations}

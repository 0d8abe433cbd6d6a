"""An orthogonal map of the last axis as a product of Householder reflections."""

import keras
import tensorflow as tf

from bijectors import _shapes
from bijectors._keras_tracking import KerasLayerBijector

__all__ = ['Householder']


class _ReflectionVectors(keras.layers.Layer):
  """Holds the `num_reflections` reflection vectors as one Keras weight."""

  def __init__(self, num_reflections, channels, **kwargs):
    super().__init__(**kwargs)
    self.num_reflections = num_reflections
    self.channels = channels

  def build(self, input_shape=None):
    self.vectors = self.add_weight(
        shape=(self.num_reflections, self.channels),
        initializer=keras.initializers.RandomNormal(stddev=1.0),
        name='vectors')

  def call(self, inputs=None):
    return self.vectors

  def get_config(self):
    return {**super().get_config(), 'num_reflections': self.num_reflections,
            'channels': self.channels}


class Householder(KerasLayerBijector):
  """Product of Householder reflections acting on the last axis ([1], Eq. 19).

  ```none
  H(v) = I - 2 v v^T / (v^T v),      y = H(v_K) ... H(v_1) x
  ```

  Each `H(v)` is symmetric and orthogonal, so the inverse applies the same
  reflections in reverse order and the log-determinant is 0. On NHWC images
  this is an invertible 1x1 convolution (the same orthogonal matrix at every
  pixel); on flat vectors it is an invertible linear map. The vectors are
  trainable and need not be normalized; a zero vector has no reflection
  (`validate_args=True` checks for one at every call). Any leading axes
  broadcast.

  Not `tfb.Householder`: TFP's bijector of that name is one reflection about a
  given unit vector, with no variables of its own. This one is PIE's
  invertible 1x1 convolution: `num_reflections` trainable, unnormalized
  vectors multiplied together, so that K reflections of `channels`-vectors
  parameterize an orthogonal matrix of the channels.

  By default the vectors are float32 (Keras' `floatx`) and the reflections
  are applied in the input's dtype, so a float64 base distribution needs no
  argument here; `dtype=tf.float64` stores the vectors in float64 too, and
  then the bijector takes float64 inputs only.

  #### Example

  ```python
  import tensorflow_probability as tfp
  from bijectors import Householder
  tfd = tfp.distributions

  mix = Householder(channels=4, num_reflections=3)
  flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0., 1.), [4]), mix)
  flow.log_prob(flow.sample(2))    # equals the base log-density: |det| = 1
  ```

  #### References

  [1]: Jan Jetze Beitler, Ivan Sosnovik and Arnold Smeulders. PIE:
       Pseudo-Invertible Encoder. _arXiv preprint arXiv:1811.00539_, 2018.
       https://arxiv.org/abs/1811.00539
  """

  def __init__(self, channels, num_reflections=3, dtype=None,
               validate_args=False, name='householder'):
    """Builds the reflections.

    Args:
      channels: Python `int`, the size of the last axis.
      num_reflections: Python `int`, how many reflections to multiply.
      dtype: dtype of the reflection vectors, and then of the inputs; by
        default float32 vectors (Keras' `floatx`) applied in the inputs'
        dtype, whatever it is.
      validate_args: Python `bool`: also check, at every call, that no
        reflection vector is zero, and sizes unknown when the graph is built.
      name: Python `str` name of the bijector.

    Raises:
      ValueError: if `channels` or `num_reflections` is not positive; when
        called, on a scalar or on a last axis of another size than
        `channels`, whenever that is known statically.
      tf.errors.InvalidArgumentError: with `validate_args=True`, on a zero
        reflection vector or a wrong channel count known only at run time.
    """
    parameters = dict(locals())
    if channels < 1 or num_reflections < 1:
      raise ValueError(f'{name}: channels and num_reflections must be '
                       f'positive, got {channels} and {num_reflections}.')
    dtype = None if dtype is None else tf.as_dtype(dtype)
    with tf.name_scope(name) as name:
      self._channels = channels
      self._reflections = _ReflectionVectors(
          num_reflections, channels, dtype=dtype and dtype.name,
          name=name.rstrip('/') + '_vectors')
      self._reflections.build()
      super().__init__(
          networks=(self._reflections,),
          forward_min_event_ndims=1,
          is_constant_jacobian=True,
          dtype=dtype,
          validate_args=validate_args,
          parameters=parameters,
          name=name)

  @property
  def channels(self):
    return self._channels

  @property
  def vectors(self):
    """The (num_reflections, channels) reflection vectors."""
    return self._reflections.vectors

  def _parameter_control_dependencies(self, is_init):
    if not self.validate_args or is_init:
      return []  # the vectors are variables: checked whenever they are used
    squared_norms = tf.reduce_sum(tf.square(self._reflections.vectors), -1)
    return [tf.debugging.assert_positive(
        squared_norms, message=f'{self.name}: every reflection vector must '
        'be non-zero')]

  def _reflect_all(self, x, order):
    _shapes.check_rank(x, 1, self.name, 'inputs')
    x = _shapes.with_assertions(x, _shapes.check_axis(
        x, -1, self.name, 'the channel count', self.validate_args,
        equals=self._channels))
    vectors = tf.cast(self._reflections.vectors, x.dtype)
    for k in order:
      v = vectors[k]
      x = x - (2. / tf.reduce_sum(v * v)) * tf.reduce_sum(
          x * v, axis=-1, keepdims=True) * v
    return x

  def _forward(self, x):
    return self._reflect_all(x, range(self._reflections.num_reflections))

  def _inverse(self, y):
    return self._reflect_all(
        y, reversed(range(self._reflections.num_reflections)))

  def _forward_log_det_jacobian(self, x):
    return tf.zeros([], dtype=x.dtype)

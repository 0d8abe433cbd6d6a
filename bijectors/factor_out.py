"""Multi-scale factoring-out: transform only the kept part further."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from bijectors import _shapes
from bijectors._joint_log_det import JointLogDet

tfb = tfp.bijectors

__all__ = ['FactorOut']


class FactorOut(JointLogDet, tfb.Bijector):
  """Applies `inner` to the first `num_keep` entries of the last axis only and
  returns one flat vector: `[flatten(inner(z)), flatten(r)]`.

  This is the multi-scale step of [1] and of PIE ([2], Fig. 3c, Eq. 15): after
  a `Split`, the factored-out part `r` leaves the flow, and only `z` is
  transformed by the following blocks, which may change its shape (a
  `CheckerboardSubsample`, a `tfb.Reshape`). Putting `z` first keeps the
  innermost code at the front of the final vector, so `u[..., :d]` is PIE's
  `z`. The log-determinant is `inner`'s, evaluated on `z`. Any leading axes
  broadcast, as far as `inner` broadcasts.

  #### Example

  ```python
  import tensorflow as tf, tensorflow_probability as tfp
  from bijectors import FactorOut
  tfb = tfp.bijectors
  step = FactorOut(tfb.Scale(2.), num_keep=2, event_shape=[4, 4, 3])
  step.forward(tf.ones([1, 4, 4, 3])).shape   # (1, 48)
  step.forward(tf.ones([4, 4, 3])).shape      # (48,)
  ```

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density
       estimation using Real NVP. In _International Conference on Learning
       Representations_, 2017. https://arxiv.org/abs/1605.08803

  [2]: Jan Jetze Beitler, Ivan Sosnovik and Arnold Smeulders. PIE:
       Pseudo-Invertible Encoder. _arXiv preprint arXiv:1811.00539_, 2018.
       https://arxiv.org/abs/1811.00539
  """

  def __init__(self, inner, num_keep, event_shape, validate_args=False,
               name='factor_out'):
    """Builds the step.

    Args:
      inner: a `tfb.Bijector` for the kept part; its input event shape is
        `event_shape[:-1] + [num_keep]`.
      num_keep: Python `int`, how many entries of the last axis are kept.
      event_shape: the static input event shape (a list of Python `int`s).
      validate_args: Python `bool`: also check, at run time, event sizes
        that are unknown when the graph is built.
      name: Python `str` name of the bijector.

    Raises:
      ValueError: if `num_keep` is not in (0, `event_shape[-1]`); when
        called, on an input whose event shape is not `event_shape` (an
        output whose last axis is not the flattened size), whenever that is
        known statically.
      tf.errors.InvalidArgumentError: with `validate_args=True`, on such
        sizes when they are known only at run time.
    """
    parameters = dict(locals())
    event_shape = [int(n) for n in event_shape]
    if not 0 < num_keep < event_shape[-1]:
      raise ValueError(f'{name}: num_keep must lie in (0, {event_shape[-1]}), '
                       f'got {num_keep}.')
    with tf.name_scope(name) as name:
      self._inner = inner
      self._num_keep = num_keep
      self._event_shape = event_shape
      self._kept_shape = event_shape[:-1] + [num_keep]
      self._dropped_shape = event_shape[:-1] + [event_shape[-1] - num_keep]
      self._inner_out_shape = [
          int(n) for n in inner.forward_event_shape(self._kept_shape)]
      super().__init__(
          forward_min_event_ndims=len(event_shape),
          inverse_min_event_ndims=1,
          validate_args=validate_args,
          parameters=parameters,
          name=name)

  @classmethod
  def _parameter_properties(cls, dtype):
    return dict()

  def _get_parameterization(self):
    # `inner` may be a deep flow: compare and hash by identity, not by value.
    return id(self)

  @property
  def inner(self):
    return self._inner

  @property
  def output_size(self):
    return int(np.prod(self._event_shape))

  def _leading_shape(self, t, event_ndims):
    return tf.shape(t)[:tf.rank(t) - event_ndims]

  def _checked(self, x, expected):
    """`x`, after checking that its event shape is `expected`."""
    expected = list(expected)
    _shapes.check_rank(x, len(expected), self.name, 'inputs')
    return _shapes.with_assertions(x, [
        assertion for axis, size in zip(range(-len(expected), 0), expected)
        for assertion in _shapes.check_axis(
            x, axis, self.name,
            f'the event shape is {expected}, so axis {axis}',
            self.validate_args, equals=size)])

  def _forward_and_log_det(self, x):
    x = self._checked(x, self._event_shape)
    batch = self._leading_shape(x, len(self._event_shape))
    z = x[..., :self._num_keep]
    v = self._inner.forward(z)
    log_det = self._inner.forward_log_det_jacobian(
        z, event_ndims=len(self._kept_shape))
    flat = lambda t: tf.reshape(t, tf.concat([batch, [-1]], 0))
    return tf.concat([flat(v), flat(x[..., self._num_keep:])], axis=-1), log_det

  def _inverse_and_log_det(self, y):
    y = self._checked(y, [self.output_size])
    batch = self._leading_shape(y, 1)
    inner_size = int(np.prod(self._inner_out_shape))
    shaped = lambda t, s: tf.reshape(t, tf.concat([batch, s], 0))
    v = shaped(y[..., :inner_size], self._inner_out_shape)
    z = self._inner.inverse(v)
    log_det = self._inner.inverse_log_det_jacobian(
        v, event_ndims=len(self._inner_out_shape))
    return (tf.concat([z, shaped(y[..., inner_size:], self._dropped_shape)],
                      axis=-1), log_det)

  def _forward_event_shape(self, input_shape):
    return input_shape[:-len(self._event_shape)].concatenate(
        [self.output_size])

  def _inverse_event_shape(self, output_shape):
    return output_shape[:-1].concatenate(self._event_shape)

  def _forward_event_shape_tensor(self, input_shape):
    return tf.concat([input_shape[:-len(self._event_shape)],
                      [self.output_size]], 0)

  def _inverse_event_shape_tensor(self, output_shape):
    return tf.concat([output_shape[:-1], self._event_shape], 0)

"""PIE's two-sided affine coupling layer (PIE paper, Eq. 18)."""

import tensorflow as tf

from bijectors import _shapes
from bijectors._joint_log_det import JointLogDet
from bijectors._keras_tracking import KerasLayerBijector

__all__ = ['AffineCoupling']


class AffineCoupling(JointLogDet, KerasLayerBijector):
  """Affine coupling of both halves of the last axis ([1], Eq. 18).

  With `x = [x1, x2]` split into halves along the last axis,

  ```none
  y1 = s1(x2) * x1 + b1(x2)          x2 = (y2 - b2(y1)) / s2(y1)
  y2 = s2(y1) * x2 + b2(y1)    <=>   x1 = (y1 - b1(x2)) / s1(x2)
  ```

  where `(b1, log s1) = shift_and_log_scale_fn1(x2)` and
  `(b2, log s2) = shift_and_log_scale_fn2(y1)`, as in `tfb.RealNVP`'s
  `shift_and_log_scale_fn` (the affine coupling of [2], applied to both
  halves in turn). Scales are `exp(log_scale)`, never zero, and

  ```none
  log |det dy/dx| = sum(log s1) + sum(log s2)
  ```

  summed over the event axes. The coupling broadcasts over any leading axes;
  the networks see them flattened into one batch axis.

  #### Example

  ```python
  import tensorflow_probability as tfp
  from bijectors import AffineCoupling
  from layers import ShiftAndLogScale
  tfd = tfp.distributions

  coupling = AffineCoupling(ShiftAndLogScale(hidden=32, units=4),
                            ShiftAndLogScale(hidden=32, units=4),
                            event_ndims=1)
  flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0., 1.), [8]),
                                     coupling)
  log_p = flow.log_prob(flow.sample(5))   # (5,)
  flow.log_prob(flow.sample()).shape      # (): one event
  ```

  #### References

  [1]: Jan Jetze Beitler, Ivan Sosnovik and Arnold Smeulders. PIE:
       Pseudo-Invertible Encoder. _arXiv preprint arXiv:1811.00539_, 2018.
       https://arxiv.org/abs/1811.00539

  [2]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density
       estimation using Real NVP. In _International Conference on Learning
       Representations_, 2017. https://arxiv.org/abs/1605.08803
  """

  def __init__(self, shift_and_log_scale_fn1, shift_and_log_scale_fn2,
               event_ndims=3, validate_args=False, name='affine_coupling'):
    """Builds the coupling.

    Args:
      shift_and_log_scale_fn1: callable `x2 -> (shift, log_scale)` for `x1`.
      shift_and_log_scale_fn2: callable `y1 -> (shift, log_scale)` for `x2`.
      event_ndims: 3 for NHWC images, 1 for flat vectors.
      validate_args: Python `bool`: also check, at run time, sizes that are
        unknown when the graph is built.
      name: Python `str` name of the bijector.

    Raises:
      ValueError: on inputs with fewer than `event_ndims` axes or an odd
        size of the last axis, whenever that is known statically.
      tf.errors.InvalidArgumentError: with `validate_args=True`, on an odd
        last axis that is known only at run time.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._fn1 = shift_and_log_scale_fn1
      self._fn2 = shift_and_log_scale_fn2
      super().__init__(
          networks=(shift_and_log_scale_fn1, shift_and_log_scale_fn2),
          forward_min_event_ndims=event_ndims,
          validate_args=validate_args,
          parameters=parameters,
          name=name)

  def _halves(self, x):
    _shapes.check_rank(x, self.forward_min_event_ndims, self.name, 'inputs')
    x = _shapes.with_assertions(x, _shapes.check_axis(
        x, -1, self.name, 'the size of the last axis', self.validate_args,
        multiple_of=2))
    return tf.split(x, 2, axis=-1)

  def _sum_event(self, t):
    return tf.reduce_sum(t, axis=tuple(range(-self.forward_min_event_ndims, 0)))

  def _forward_and_log_det(self, x):
    x1, x2 = self._halves(x)
    shift1, log_scale1 = self._run_network(self._fn1, x2)
    y1 = x1 * tf.exp(log_scale1) + shift1
    shift2, log_scale2 = self._run_network(self._fn2, y1)
    y2 = x2 * tf.exp(log_scale2) + shift2
    log_det = self._sum_event(log_scale1) + self._sum_event(log_scale2)
    return tf.concat([y1, y2], axis=-1), log_det

  def _inverse_and_log_det(self, y):
    y1, y2 = self._halves(y)
    shift2, log_scale2 = self._run_network(self._fn2, y1)
    x2 = (y2 - shift2) * tf.exp(-log_scale2)
    shift1, log_scale1 = self._run_network(self._fn1, x2)
    x1 = (y1 - shift1) * tf.exp(-log_scale1)
    log_det = -(self._sum_event(log_scale1) + self._sum_event(log_scale2))
    return tf.concat([x1, x2], axis=-1), log_det

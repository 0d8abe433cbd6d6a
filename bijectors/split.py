"""PIE's split: keep z, standardize the dropped part r around g(z)."""

import numbers

import numpy as np
import tensorflow as tf

from bijectors import _shapes
from bijectors._keras_tracking import KerasLayerBijector

__all__ = ['Split']


class Split(KerasLayerBijector):
  """Keeps `z`, the first `num_keep` entries of the last axis, and standardizes
  the rest ([1], Eq. 12 and Eq. 20).

  PIE models the dropped part `r` as `N(r | g(z), eps^2 I)`. This bijector
  writes that density as a standard normal on `r' = (r - g(z)) / eps`:

  ```none
  forward:  [z, r]  ->  [z, (r - g(z)) / eps]
  inverse:  [z, r'] ->  [z, eps * r' + g(z)]
  log |det| = -dim(r) * log(eps)
  ```

  so a standard-normal base distribution on the output turns
  `log N(r' | 0, I) - dim(r) log eps` into `log N(r | g(z), eps^2 I)`, the
  second term of Eq. 17. Decoding with `r' = 0` gives the pseudo-inverse
  `F^-1([z, g(z)])` of Eq. 4. `g_fn=None` means `g = 0`. Any leading axes
  broadcast; `g_fn` sees them flattened into one batch axis.

  Not `tfb.Split`: TFP's bijector of that name cuts a tensor into a list of
  tensors (a multipart bijector) and changes no values. This one keeps a
  single tensor and standardizes its dropped part, so that the log-density of
  the dimensions it drops is part of the flow's `log_prob`; it is meant to be
  followed by a `FactorOut`, which leaves the dropped part out of the blocks
  that come after.

  #### Example

  ```python
  import tensorflow_probability as tfp
  from bijectors import Split
  tfd = tfp.distributions

  split = Split(num_keep=2, epsilon=0.1)          # g = 0
  flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0., 1.), [6]),
                                     tfp.bijectors.Invert(split))
  x = flow.sample(3)                              # dims 2..5 have std 0.1
  ```

  #### References

  [1]: Jan Jetze Beitler, Ivan Sosnovik and Arnold Smeulders. PIE:
       Pseudo-Invertible Encoder. _arXiv preprint arXiv:1811.00539_, 2018.
       https://arxiv.org/abs/1811.00539
  """

  def __init__(self, num_keep, g_fn=None, epsilon=1.0, event_ndims=1,
               validate_args=False, name='split'):
    """Builds the split.

    Args:
      num_keep: Python `int`, how many leading entries of the last axis are
        kept as `z`.
      g_fn: callable mapping `z` to the mean of `r` (same shape as `r`), or
        `None` for 0.
      epsilon: positive float, or a scalar tensor or `tf.Variable`, the
        standard deviation `eps` of `r` around `g(z)`.
      event_ndims: 1 when `g_fn` sees one vector at a time, 3 when it sees
        whole NHWC images (a convolution).
      validate_args: Python `bool`: also check, at run time, an `epsilon`
        that is a variable (at every call) or only known in a graph, and
        sizes unknown when the graph is built.
      name: Python `str` name of the bijector.

    Raises:
      ValueError: if `num_keep` is not a positive integer or a statically
        known `epsilon` is not positive; when called, if the last axis has
        no more than `num_keep` entries (whenever that is known statically).
      tf.errors.InvalidArgumentError: with `validate_args=True`, on an
        `epsilon` or a last axis that breaks those rules at run time.
    """
    parameters = dict(locals())
    if not isinstance(num_keep, numbers.Integral) or num_keep < 1:
      raise ValueError(f'{name}: num_keep must be a positive integer, got '
                       f'{num_keep!r}.')
    static_epsilon = (None if isinstance(epsilon, tf.Variable)
                      else tf.get_static_value(epsilon))
    if static_epsilon is not None and not np.all(static_epsilon > 0):
      raise ValueError(f'{name}: epsilon must be positive, got '
                       f'{static_epsilon!r}.')
    with tf.name_scope(name) as name:
      self._num_keep = num_keep
      self._g_fn = g_fn
      self._epsilon = epsilon
      super().__init__(
          networks=(g_fn,),
          forward_min_event_ndims=event_ndims,
          is_constant_jacobian=True,
          validate_args=validate_args,
          parameters=parameters,
          name=name)

  @property
  def num_keep(self):
    return self._num_keep

  @property
  def epsilon(self):
    return self._epsilon

  def _parameter_control_dependencies(self, is_init):
    # A constant epsilon is checked once, when the bijector is built; a
    # variable one whenever it is used, as TFP's bijectors do.
    if (not self.validate_args or not tf.is_tensor(self._epsilon) or
        is_init == isinstance(self._epsilon, tf.Variable)):
      return []
    return [tf.debugging.assert_positive(
        self._epsilon, message=f'{self.name}: epsilon must be positive')]

  def _parts(self, x):
    _shapes.check_rank(x, self.forward_min_event_ndims, self.name, 'inputs')
    x = _shapes.with_assertions(x, _shapes.check_axis(
        x, -1, self.name, f'to keep {self._num_keep} entries, the last axis',
        self.validate_args, greater_than=self._num_keep))
    z, r = x[..., :self._num_keep], x[..., self._num_keep:]
    mean = 0. if self._g_fn is None else self._run_network(self._g_fn, z)
    return z, r, mean, tf.cast(self._epsilon, x.dtype)

  def _forward(self, x):
    z, r, mean, epsilon = self._parts(x)
    return tf.concat([z, (r - mean) / epsilon], axis=-1)

  def _inverse(self, y):
    z, r_standard, mean, epsilon = self._parts(y)
    return tf.concat([z, epsilon * r_standard + mean], axis=-1)

  def _forward_log_det_jacobian(self, x):
    event_shape = tf.shape(x)[tf.rank(x) - self.forward_min_event_ndims:]
    dim_r = tf.reduce_prod(event_shape[:-1]) * (event_shape[-1] -
                                                self._num_keep)
    return -tf.cast(dim_r, x.dtype) * tf.math.log(
        tf.cast(self._epsilon, x.dtype))

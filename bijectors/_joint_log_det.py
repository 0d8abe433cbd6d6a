"""Bijectors whose log-determinant comes out of the transformation itself.

A coupling's log-determinant is a sum of the log-scales its networks compute
while they transform, and a multi-scale step's is its inner flow's. TFP asks
for the two separately: `TransformedDistribution.log_prob` calls `forward(x)`
and then `forward_log_det_jacobian(x)`, and `tfb.Chain` calls both on every
step. Computed apart, every network would run twice per nesting level (five
times, on average, in the PIE flow's log-likelihood).

`JointLogDet` computes both in one pass (`_forward_and_log_det`,
`_inverse_and_log_det`) and keeps the log-determinant in the attributes TFP's
bijector cache holds for each (x, y) pair, so that the second call is a
look-up. The cache is keyed by tensor, so this holds within one call of
`log_prob` (one graph) and leaves results on different tensors independent.
"""

__all__ = ['JointLogDet']


class JointLogDet:
  """Mixin for a `tfb.Bijector` that defines `_forward_and_log_det(x)` and
  `_inverse_and_log_det(y)`, each returning the output and the log |det| of
  its own direction, reduced over the bijector's minimal event dimensions."""

  def _forward(self, x):
    y, log_det = self._forward_and_log_det(x)
    self._cache.forward_attributes(x)['ildj'] = -log_det
    return y

  def _inverse(self, y):
    x, log_det = self._inverse_and_log_det(y)
    self._cache.inverse_attributes(y)['ildj'] = log_det
    return x

  def _forward_log_det_jacobian(self, x):
    self.forward(x)  # a cache look-up when forward(x) already ran
    return -self._cache.forward_attributes(x)['ildj']

  def _inverse_log_det_jacobian(self, y):
    self.inverse(y)
    return self._cache.inverse_attributes(y)['ildj']

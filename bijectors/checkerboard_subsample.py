"""Invertible 2x2 checkerboard subsampling (space-to-depth)."""

import functools

import tensorflow as tf

from bijectors import _shapes
from bijectors._keras_tracking import KerasLayerBijector

__all__ = ['CheckerboardSubsample']

# The four shifted checkerboard patterns, as (row offset, column offset), in the
# order they are stacked along the channels: the two diagonals first.
_PATTERNS = ((0, 0), (1, 1), (0, 1), (1, 0))


def _squeeze(x):
  """(..., H, W, C) -> (..., H/2, W/2, 4C), patterns stacked along channels."""
  return tf.concat([x[..., r::2, c::2, :] for r, c in _PATTERNS], axis=-1)


def _unsqueeze(y):
  """Inverse of `_squeeze`."""
  even_even, odd_odd, even_odd, odd_even = tf.split(y, 4, axis=-1)
  shape = tf.shape(y)
  outer, h, w, c = shape[:-3], shape[-3], shape[-2], shape[-1] // 4
  # Interleave columns within even and odd rows, then interleave the rows.
  even_rows = tf.stack([even_even, even_odd], axis=-2)
  odd_rows = tf.stack([odd_even, odd_odd], axis=-2)
  rows = tf.stack([even_rows, odd_rows], axis=-4)  # (..., h, 2, w, 2, c)
  return tf.reshape(rows, tf.concat([outer, [2 * h, 2 * w, c]], axis=0))


class CheckerboardSubsample(KerasLayerBijector):
  """2x2 checkerboard subsampling of NHWC images: (H, W, C) -> (H/2, W/2, 4C).

  The four spatially shifted checkerboard patterns of the input are moved into
  four groups of channels (the "squeeze" of [2] and [3]). It is a
  permutation, so the log-determinant is 0. Any leading axes broadcast.

  With `preserve_streams=True` (the generative-RevNet variant, Fig. 2 of
  [1]), the channels are first split into the two streams `[x1, x2]` that a
  coupling block sees, and each stream is subsampled on its own:
  `[squeeze(x1), squeeze(x2)]`. Then both halves of every later tensor cover
  the whole image. With `preserve_streams=False` all channels are squeezed
  together.

  #### Example

  ```python
  import tensorflow as tf
  from bijectors import CheckerboardSubsample
  sub = CheckerboardSubsample(preserve_streams=False)
  sub.forward(tf.reshape(tf.range(16.), [1, 4, 4, 1]))[0, :, :, 0]
  # [[0., 2.], [8., 10.]]: the even rows and even columns
  ```

  #### References

  [1]: Robin Tibor Schirrmeister, Patryk Chrabąszcz, Frank Hutter and Tonio
       Ball. Training Generative Reversible Networks. _arXiv preprint
       arXiv:1806.01610_, 2018. https://arxiv.org/abs/1806.01610

  [2]: Jörn-Henrik Jacobsen, Arnold Smeulders and Edouard Oyallon.
       i-RevNet: Deep Invertible Networks. In _International Conference on
       Learning Representations_, 2018. https://arxiv.org/abs/1802.07088

  [3]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density
       estimation using Real NVP. In _International Conference on Learning
       Representations_, 2017. https://arxiv.org/abs/1605.08803
  """

  def __init__(self, preserve_streams=True, validate_args=False,
               name='checkerboard_subsample'):
    """Builds the subsampling.

    Args:
      preserve_streams: Python `bool`: subsample the two channel halves (the
        coupling streams) separately.
      validate_args: Python `bool`: also check, at run time, sizes that are
        unknown when the graph is built.
      name: Python `str` name of the bijector.

    Raises:
      ValueError: when called on fewer than 3 axes, an odd height or width,
        an odd channel count with `preserve_streams`, or (inverse) a channel
        count that is not a multiple of 8 (4 without `preserve_streams`),
        whenever that is known statically.
      tf.errors.InvalidArgumentError: with `validate_args=True`, on those
        sizes when they are known only at run time.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._preserve_streams = preserve_streams
      super().__init__(
          networks=(),
          forward_min_event_ndims=3,
          is_constant_jacobian=True,
          validate_args=validate_args,
          parameters=parameters,
          name=name)

  @property
  def preserve_streams(self):
    return self._preserve_streams

  def _check_input(self, x):
    """Static checks of an input (a tensor or a shape); run-time assertions
    for its unknown sizes under `validate_args`."""
    _shapes.check_rank(x, 3, self.name, 'NHWC images')
    check = functools.partial(_shapes.check_axis, x, name=self.name,
                              validate_args=self.validate_args)
    return (check(-3, what='the height', multiple_of=2) +
            check(-2, what='the width', multiple_of=2) +
            check(-1, what='the channel count (two streams)',
                  multiple_of=2 if self._preserve_streams else None))

  def _check_output(self, y):
    _shapes.check_rank(y, 3, self.name, 'NHWC images')
    return _shapes.check_axis(
        y, -1, self.name, 'the channel count', self.validate_args,
        multiple_of=8 if self._preserve_streams else 4)

  def _forward(self, x):
    x = _shapes.with_assertions(x, self._check_input(x))
    if not self._preserve_streams:
      return _squeeze(x)
    return tf.concat([_squeeze(s) for s in tf.split(x, 2, axis=-1)], axis=-1)

  def _inverse(self, y):
    y = _shapes.with_assertions(y, self._check_output(y))
    if not self._preserve_streams:
      return _unsqueeze(y)
    return tf.concat([_unsqueeze(s) for s in tf.split(y, 2, axis=-1)], axis=-1)

  def _forward_log_det_jacobian(self, x):
    return tf.zeros([], dtype=x.dtype)

  def rebuild_and_backprop(self, outputs, d_outputs, inverse=False):
    """Rebuilds the input from the output for memory-saving gradients.

    A permutation's vector-Jacobian product is its inverse applied to the
    output gradient, so both are one call of the inverse map (of the forward
    map when the step ran as its inverse); there are no variables.

    Returns:
      `(inputs, d_inputs, [])`.
    """
    undo = self._forward if inverse else self._inverse
    return undo(outputs), undo(d_outputs), []

  def _forward_event_shape(self, input_shape):
    self._check_input(input_shape)
    h, w, c = input_shape[-3:]
    half = lambda n: None if n is None else n // 2
    return input_shape[:-3].concatenate(
        [half(h), half(w), None if c is None else 4 * c])

  def _inverse_event_shape(self, output_shape):
    self._check_output(output_shape)
    h, w, c = output_shape[-3:]
    double = lambda n: None if n is None else 2 * n
    return output_shape[:-3].concatenate(
        [double(h), double(w), None if c is None else c // 4])

  def _forward_event_shape_tensor(self, input_shape):
    return tf.concat(
        [input_shape[:-3], input_shape[-3:-1] // 2, 4 * input_shape[-1:]], 0)

  def _inverse_event_shape_tensor(self, output_shape):
    return tf.concat(
        [output_shape[:-3], output_shape[-3:-1] * 2, output_shape[-1:] // 4], 0)

"""Static shape checks shared by the bijectors, raising one-line ValueErrors."""

import tensorflow as tf


def check_rank(x, event_ndims, name, what):
  """Requires one batch axis in front of `event_ndims` event axes."""
  shape = tf.TensorShape(x.shape)
  if shape.rank is not None and shape.rank != event_ndims + 1:
    raise ValueError(
        f'{name}: expected {what} of rank {event_ndims + 1} (a batch axis '
        f'and {event_ndims} event axes), got shape {shape.as_list()}.')


def check_even(size, name, what, shape):
  if size is not None and size % 2:
    raise ValueError(
        f'{name}: {what} must be even, got {size} in shape {shape}.')

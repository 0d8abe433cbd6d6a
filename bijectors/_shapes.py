"""Shape checks and leading-shape handling shared by the bijectors.

Every check is static and always on when the size is known when the graph is
built, and raises a one-line `ValueError`. A size that is only known at run
time (an unknown axis in a `tf.function` signature) is checked by an
assertion op when the bijector has `validate_args=True`, as TFP's bijectors
do; the ops are returned for `tf.control_dependencies`.
"""

import numpy as np
import tensorflow as tf


def check_rank(x, min_rank, name, what):
  """Requires `x` (a tensor or a shape) to have at least `min_rank` axes."""
  shape = tf.TensorShape(x.shape if tf.is_tensor(x) else x)
  if shape.rank is not None and shape.rank < min_rank:
    axes = 'axis' if min_rank == 1 else 'axes'
    raise ValueError(
        f'{name}: expected {what} with at least {min_rank} {axes} (the event '
        f'axes, after any number of leading axes), got shape '
        f'{shape.as_list()}.')


def _rules(equals, multiple_of, greater_than):
  """(predicate, text) for each rule given."""
  if equals is not None:
    yield (lambda n: n == equals), f'must be {equals}'
  if multiple_of == 2:
    yield (lambda n: n % 2 == 0), 'must be even'
  elif multiple_of is not None:
    yield ((lambda n: n % multiple_of == 0),
           f'must be a multiple of {multiple_of}')
  if greater_than is not None:
    yield (lambda n: n > greater_than), f'must be greater than {greater_than}'


def check_axis(x, axis, name, what, validate_args, equals=None,
               multiple_of=None, greater_than=None):
  """Checks the size of `x` on `axis` against each rule given.

  Args:
    x: the tensor, or a static shape (checked statically only).
    axis: a negative Python `int`.
    name: the bijector's name, at the start of the message.
    what: what the axis holds, e.g. 'the channel count'.
    validate_args: whether to check a size unknown until run time.
    equals, multiple_of, greater_than: the rules, `None` for no rule.

  Returns:
    A list of assertion ops: empty unless a size unknown when the graph was
    built is checked in that graph.

  Raises:
    ValueError: if the static size breaks a rule.
    tf.errors.InvalidArgumentError: if, with `validate_args`, an eagerly
      checked size breaks a rule.
  """
  shape = tf.TensorShape(x.shape if tf.is_tensor(x) else x)
  size = shape[axis] if shape.rank is not None else None
  rules = list(_rules(equals, multiple_of, greater_than))
  if size is not None:
    for holds, text in rules:
      if not holds(size):
        raise ValueError(f'{name}: {what} {text}, got {size} in shape '
                         f'{shape.as_list()}.')
    return []
  if not validate_args or not tf.is_tensor(x):
    return []
  size = tf.shape(x)[axis]
  assertions = [tf.debugging.Assert(holds(size), [f'{name}: {what} {text}, '
                                                  'got', size])
                for holds, text in rules]
  return [a for a in assertions if a is not None]


def with_assertions(x, assertions):
  """`x`, computed after `assertions` when there are any."""
  if not assertions:
    return x
  with tf.control_dependencies(assertions):
    return tf.identity(x)


def _leading_and_event(x, event_ndims):
  rank = x.shape.rank
  if rank is None:
    raise ValueError('inputs of unknown rank cannot be passed to a network; '
                     'give the tensor a static rank.')
  dynamic = tf.shape(x)
  return (x.shape[:rank - event_ndims], x.shape[rank - event_ndims:],
          dynamic[:rank - event_ndims], dynamic[rank - event_ndims:])


def over_one_batch_axis(network, inputs, event_ndims):
  """`network(inputs)` for inputs with any number of leading axes.

  A Keras network expects one batch axis in front of the event axes. The
  leading axes of `inputs` (none, one or several) are flattened into one for
  the call and restored on every output, which keeps its own event shape.
  With exactly one leading axis the network is called directly.
  """
  if inputs.shape.rank == event_ndims + 1:
    return network(inputs)
  leading, event, leading_t, event_t = _leading_and_event(inputs, event_ndims)
  count = (int(np.prod(leading)) if leading.is_fully_defined() else None)
  flat = tf.reshape(inputs, tf.concat([[-1], event_t], 0))
  flat.set_shape(tf.TensorShape([count]).concatenate(event))

  def restore(output):
    restored = tf.reshape(output,
                          tf.concat([leading_t, tf.shape(output)[1:]], 0))
    restored.set_shape(leading.concatenate(output.shape[1:]))
    return restored

  return tf.nest.map_structure(restore, network(flat))

"""Memory-saving gradients through a stack of exactly invertible steps.

Plain autodiff keeps every intermediate activation of a deep flow until the
backward pass. A reversible stack does not need them: walking back from the
output, each step's input is rebuilt from its output with the inverse, the
step is re-run on that input under a local tape, and the vector-Jacobian
product is taken there. Peak memory is then one step's activations, whatever
the depth (Gomez et al., 2017). Steps with a `rebuild_and_backprop` method
(additive couplings) rebuild and differentiate in one pass, reusing the
network evaluations of the inverse. One `tf.custom_gradient` spans the whole
stack: wrapping each step separately would still keep every step's boundary
tensor.
"""

import tensorflow as tf

__all__ = ['reversible_apply']


def _step_fns(step, inverse):
  # The bijectors' uncached maps: TFP's cache would keep every input alive.
  return (step._inverse, step._forward) if inverse else (step._forward,
                                                         step._inverse)


def _rebuild_and_backprop(step, y, dy, inverse):
  """Any exact step: rebuild its input, re-run it under a tape, take the VJP."""
  apply, undo = _step_fns(step, inverse)
  x = tf.stop_gradient(undo(y))
  variables = list(step.trainable_variables)
  with tf.GradientTape() as tape:
    tape.watch(x)
    y_again = apply(x)
  dx, d_vars = tape.gradient(y_again, (x, variables), output_gradients=dy)
  return x, dx, list(zip(variables, d_vars))


def reversible_apply(steps, x, inverse=False):
  """Applies `steps` in order (or their inverses in reverse order) to `x`.

  The value equals the plain composition; the gradient with respect to `x` and
  to the steps' variables is computed by rebuilding activations backwards.

  Args:
    steps: sequence of bijectors with exact `_forward`/`_inverse` maps and a
      complete `trainable_variables`, in the order they are applied to data.
    x: the input tensor.
    inverse: run the stack in the decoding direction.

  Returns:
    The output tensor.
  """
  ordered = list(reversed(steps)) if inverse else list(steps)

  @tf.custom_gradient
  def run(inputs):
    outputs = inputs
    for step in ordered:
      outputs = _step_fns(step, inverse)[0](outputs)

    def grad(d_outputs, variables=None):
      variables = variables or []
      sums = {}
      y, dy = outputs, d_outputs
      for step in reversed(ordered):
        # Graph executors would otherwise run the whole chain of inverses at
        # once and keep every rebuilt input: rebuild one step at a time.
        with tf.control_dependencies([dy]):
          if hasattr(step, 'rebuild_and_backprop'):
            y, dy, pairs = step.rebuild_and_backprop(y, dy, inverse)
          else:
            y, dy, pairs = _rebuild_and_backprop(step, y, dy, inverse)
        for var, d_var in pairs:
          if d_var is not None:
            key = var.ref()
            sums[key] = d_var if key not in sums else sums[key] + d_var
      return dy, [sums.get(v.ref(), tf.zeros_like(v)) for v in variables]

    return outputs, grad

  return run(x)

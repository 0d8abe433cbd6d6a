"""The RevNet block: additive coupling of the two channel halves."""

import tensorflow as tf

from bijectors import _shapes
from bijectors._keras_tracking import KerasLayerBijector

__all__ = ['AdditiveCoupling']


class AdditiveCoupling(KerasLayerBijector):
  """Additive coupling of the two halves of the last axis (RevNet block).

  With `x = [x1, x2]` split into halves along the last (channel) axis, the
  forward map is Eq. 1 of [1] (the RevNet block of [2]):

  ```none
  y1 = x1 + f(x2)
  y2 = x2 + g(y1)
  ```

  and its inverse (Eq. 2) is `x2 = y2 - g(y1)`, `x1 = y1 - f(x2)`. The Jacobian
  is triangular with unit diagonal, so the log-determinant is 0. `f` and `g`
  need not be invertible; they must map a half to a tensor of the same shape.

  The block acts on the rightmost `event_ndims` axes and broadcasts over any
  leading axes (`dist.sample()`, `dist.sample([2, 3])`): the networks see the
  leading axes flattened into one batch axis.

  #### Example

  ```python
  import keras, tensorflow as tf, tensorflow_probability as tfp
  from bijectors import AdditiveCoupling
  from layers import ConvStack
  tfd = tfp.distributions

  block = AdditiveCoupling(ConvStack(hidden=16, channels=2),
                           ConvStack(hidden=16, channels=2))
  flow = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), [8, 8, 4]), block)
  images = flow.sample(3)              # (3, 8, 8, 4)
  log_p = flow.log_prob(images)        # (3,)
  flow.sample([2, 3]).shape            # (2, 3, 8, 8, 4)
  ```

  #### References

  [1]: Robin Tibor Schirrmeister, Patryk Chrabąszcz, Frank Hutter and Tonio
       Ball. Training Generative Reversible Networks. _arXiv preprint
       arXiv:1806.01610_, 2018. https://arxiv.org/abs/1806.01610

  [2]: Aidan N. Gomez, Mengye Ren, Raquel Urtasun and Roger B. Grosse. The
       Reversible Residual Network: Backpropagation Without Storing
       Activations. In _Neural Information Processing Systems_, 2017.
       https://arxiv.org/abs/1707.04585
  """

  def __init__(self, f, g, event_ndims=3, validate_args=False,
               name='additive_coupling'):
    """Builds the block.

    Args:
      f: callable mapping `x2` to the update of `x1` (a Keras layer, a
        `tf.Module` or a function).
      g: callable mapping `y1` to the update of `x2`.
      event_ndims: 3 for NHWC images (the networks see whole images), 1 for
        flat vectors.
      validate_args: Python `bool`: also check, at run time, sizes that are
        unknown when the graph is built.
      name: Python `str` name of the bijector.

    Raises:
      ValueError: on inputs with fewer than `event_ndims` axes or an odd
        channel count, whenever that is known statically (always checked).
      tf.errors.InvalidArgumentError: with `validate_args=True`, on an odd
        channel count that is known only at run time.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._f = f
      self._g = g
      super().__init__(
          networks=(f, g),
          forward_min_event_ndims=event_ndims,
          is_constant_jacobian=True,
          validate_args=validate_args,
          parameters=parameters,
          name=name)

  @property
  def f(self):
    return self._f

  @property
  def g(self):
    return self._g

  def _halves(self, x):
    _shapes.check_rank(x, self.forward_min_event_ndims, self.name, 'inputs')
    x = _shapes.with_assertions(x, _shapes.check_axis(
        x, -1, self.name, 'the channel count', self.validate_args,
        multiple_of=2))
    return tf.split(x, 2, axis=-1)

  def _forward(self, x):
    x1, x2 = self._halves(x)
    y1 = x1 + self._run_network(self._f, x2)
    y2 = x2 + self._run_network(self._g, y1)
    return tf.concat([y1, y2], axis=-1)

  def _inverse(self, y):
    y1, y2 = self._halves(y)
    x2 = y2 - self._run_network(self._g, y1)
    x1 = y1 - self._run_network(self._f, x2)
    return tf.concat([x1, x2], axis=-1)

  def _forward_log_det_jacobian(self, x):
    return tf.zeros([], dtype=x.dtype)

  def _network_vjp(self, network, inputs, d_outputs):
    """`network(inputs)` and the vector-Jacobian products of `d_outputs`
    with respect to `inputs` and to the network's variables."""
    variables = self._network_variables(network)
    with tf.GradientTape() as tape:
      tape.watch(inputs)
      outputs = self._run_network(network, inputs)
    return outputs, tape.gradient(outputs, [inputs] + variables,
                                  output_gradients=d_outputs), variables

  def rebuild_and_backprop(self, outputs, d_outputs, inverse=False):
    """Rebuilds this block's input from its output and backpropagates.

    For memory-saving gradients ([2], Alg. 1): when the block
    ran forward, `outputs = y` and `d_outputs = dL/dy`; the inverse computes
    `g(y1)` and `f(x2)` to rebuild `x`, and the backward pass needs those
    same two evaluations:

    ```none
    dL/dx1 = dL/dy1 + g'(y1)^T dL/dy2
    dL/dx2 = dL/dy2 + f'(x2)^T dL/dx1
    ```

    so each network runs once, under a tape, instead of once to rebuild and
    again to differentiate. With `inverse=True` (the block ran as its
    inverse, `outputs = x`) the roles are mirrored.

    Returns:
      `(inputs, d_inputs, [(variable, gradient), ...])`.
    """
    if inverse:
      x1, x2 = self._halves(outputs)
      dx1, dx2 = tf.split(d_outputs, 2, axis=-1)
      f_x2, (d_x2, *d_f), f_vars = self._network_vjp(self._f, x2, -dx1)
      y1 = tf.stop_gradient(x1 + f_x2)
      dy2 = dx2 + d_x2
      g_y1, (d_y1, *d_g), g_vars = self._network_vjp(self._g, y1, -dy2)
      y2 = tf.stop_gradient(x2 + g_y1)
      inputs, d_inputs = [y1, y2], [dx1 + d_y1, dy2]
    else:
      y1, y2 = self._halves(outputs)
      dy1, dy2 = tf.split(d_outputs, 2, axis=-1)
      g_y1, (d_y1, *d_g), g_vars = self._network_vjp(self._g, y1, dy2)
      x2 = tf.stop_gradient(y2 - g_y1)
      dx1 = dy1 + d_y1
      f_x2, (d_x2, *d_f), f_vars = self._network_vjp(self._f, x2, dx1)
      x1 = tf.stop_gradient(y1 - f_x2)
      inputs, d_inputs = [x1, x2], [dx1, dy2 + d_x2]
    return (tf.concat(inputs, axis=-1), tf.concat(d_inputs, axis=-1),
            list(zip(f_vars + g_vars, d_f + d_g)))

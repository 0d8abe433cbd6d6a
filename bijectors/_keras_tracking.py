"""Base class for bijectors whose parameters live in Keras 3 layers.

Keras 3 variables are not `tf.Variable`s, and a Keras layer is not a `tf.Module`,
so `tf.Module`'s variable collection (which `tfb.Chain` and
`tfd.TransformedDistribution` use) finds none of them. A bijector built on this
class keeps the `tf.Variable`s behind its layers' weights in a plain attribute,
refreshed whenever one of its networks runs, so that `trainable_variables` is
complete on the bijector and on every TFP object that contains it. The layers
themselves are listed in `keras_layers`, so a Keras model that owns the bijector
can track them and be complete from its side too.

Checkpoints and SavedModels save each weight once, through its Keras layer: a
Keras variable and the `tf.Variable` behind it are separate trackable objects,
so saving both would store every value twice.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from bijectors import _shapes

tfb = tfp.bijectors


def _tf_variable(weight):
  value = getattr(weight, 'value', weight)
  return value if isinstance(value, tf.Variable) else weight


class KerasLayerBijector(tfb.Bijector):
  """A `tfb.Bijector` that exposes the variables of the Keras layers it calls."""

  def __init__(self, networks, **kwargs):
    self._keras_layers = tuple(
        n for n in networks if isinstance(n, keras.layers.Layer))
    super().__init__(**kwargs)
    self._sync_layer_variables()

  @property
  def keras_layers(self):
    """The Keras layers whose weights parameterize this bijector."""
    return self._keras_layers

  def _trackable_children(self, save_type='checkpoint', **kwargs):
    children = super()._trackable_children(save_type, **kwargs)
    children.pop('_layer_variables', None)
    return children

  def _sync_layer_variables(self):
    self._layer_variables = tuple(
        _tf_variable(w) for layer in self._keras_layers for w in layer.weights)

  @staticmethod
  def _network_variables(network):
    """The trainable `tf.Variable`s of one network."""
    if isinstance(network, keras.layers.Layer):
      return [_tf_variable(w) for w in network.trainable_weights]
    return list(getattr(network, 'trainable_variables', ()))

  def _run_network(self, network, inputs):
    """`network(inputs)` over the bijector's event axes, whatever the
    leading axes (the network sees them flattened into one batch axis),
    cast to the dtype of `inputs`.

    A network under a mixed policy (`dtype='mixed_bfloat16'`) computes in
    bfloat16; the bijector's own arithmetic (the coupling's additions and
    scalings, the log-determinant) stays in the data's dtype. The round
    trip is then approximate: the inverse re-runs the network on an input
    rebuilt to float32 rounding, and where that input rounds to another
    bfloat16 value the output moves by a bfloat16 step (docs/training.md).
    """
    outputs = tf.nest.map_structure(
        lambda t: tf.cast(t, inputs.dtype),
        _shapes.over_one_batch_axis(network, inputs,
                                    self.forward_min_event_ndims))
    if len(self._layer_variables) != sum(
        len(layer.weights) for layer in self._keras_layers):
      self._sync_layer_variables()
    return outputs

  @classmethod
  def _parameter_properties(cls, dtype):
    return dict()

  def _get_parameterization(self):
    # Networks make every instance unique. Hashing the parameters instead
    # would walk every nested bijector at every cache look-up.
    return id(self)


def collect_keras_layers(bijector):
  """The Keras layers of `bijector` and of every bijector nested inside it."""
  found = {}
  for module in (bijector,) + tuple(bijector.submodules):
    for layer in getattr(module, 'keras_layers', ()):
      found.setdefault(id(layer), layer)
  return list(found.values())

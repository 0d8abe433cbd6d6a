"""The autoencoder API shared by every model, and the models' registries."""

import keras
import tensorflow as tf

from bijectors import collect_keras_layers
from official.errors import ConfigError
from official.registry import Registry

# The model classes, by the config class that builds them
# (`@register_model(PieConfig)` above `class PseudoInvertibleEncoder`).
MODEL_CLASSES = Registry('model config')
# Named architectures (the papers'), by name.
MODELS = Registry('model')


def register_model(config_class):
  """Decorator: the model class that `build_model` makes from a
  `config_class` instance."""
  return MODEL_CLASSES.register(config_class)


def register_preset(name, config):
  """Registers a named architecture, e.g. the papers' `pie_mnist`."""
  MODELS.register(name, config)


class Autoencoder(keras.Model):
  """An encoder `x -> u` and a decoder `u -> x` with a prior on `u`.

  Subclasses set `latent_size` (d, the prior dimensions' count) and
  implement `encode_full(x) -> u`, `decode_full(u)`, `code_size`,
  `restrict(u) -> z` (the prior dimensions), `extend(z) -> u` (the
  non-prior dimensions at their fixed value) and `sample_codes`. Then:

  * `encode(x) = restrict(encode_full(x))`, shape (N, d),
  * `decode(z) = decode_full(extend(z))`,
  * `sample(n, ...) = decode_full(sample_codes(n, ...))` decodes draws from
    the prior.

  What evaluation, figures, export and benchmarks ask of a model, rather
  than its type: `is_invertible` (`decode_full(encode_full(x)) == x`),
  `latent_size`, `has_density` (a model with a density adds `log_prob`,
  `bits_per_dim` and draws of the density, `sample(..., density=True)`),
  `num_classes` (a prior of one Gaussian per class, drawn by
  `sample(n, labels)`, or 0 for N(0, I)), and for the benchmarks
  `activation_mib` and `uses_memory_saving` (None where they do not apply).
  """

  is_invertible = False
  has_density = False

  def __init__(self, image_shape, **kwargs):
    super().__init__(**kwargs)
    self.image_shape = tuple(image_shape)

  @property
  def num_classes(self):
    """The classes the prior has a Gaussian each for; 0: one N(0, I)."""
    return 0

  def activation_mib(self, batch_size):
    """The activations a train step keeps for its gradient, in MiB; None
    where not estimated."""
    del batch_size
    return None

  def uses_memory_saving(self, batch_size):
    """Whether the gradient recomputes activations at `batch_size`; None
    where the model has no such choice."""
    del batch_size
    return None

  def _check_images(self, x):
    x = tf.convert_to_tensor(x, self.compute_dtype)
    if x.shape.rank is not None and tuple(x.shape[1:]) != self.image_shape:
      raise ValueError(f'{self.name}: expected images of shape (N,) + '
                       f'{self.image_shape}, got {x.shape.as_list()}.')
    return tf.identity(x)

  def _check_codes(self, u, size, what):
    u = tf.convert_to_tensor(u, self.compute_dtype)
    if u.shape.rank is not None and (u.shape.rank != 2 or u.shape[1] != size):
      raise ValueError(f'{self.name}: expected {what} of shape (N, {size}), '
                       f'got {u.shape.as_list()}.')
    return tf.identity(u)

  def encode(self, x):
    return self.restrict(self.encode_full(x))

  def decode(self, z):
    return self.decode_full(self.extend(z))

  def sample_codes(self, n, *args, **kwargs):
    """`n` full codes u drawn from the prior (shape (n, code_size))."""
    raise NotImplementedError

  def sample(self, n, *args, **kwargs):
    """Decodes `n` draws of `sample_codes` (same arguments)."""
    return self.decode_full(self.sample_codes(n, *args, **kwargs))

  def call(self, inputs):
    return self.encode(inputs)

  def save(self, filepath, *args, **kwargs):
    """Refused, before any file is created: a `.keras` file needs every
    layer's config, which these models are not written to give."""
    del args, kwargs
    raise NotImplementedError(
        f'{type(self).__name__} cannot be saved as {filepath}: '
        f'{self._why_no_keras_file} use '
        'official.serving.save(model, PATH) for a SavedModel, or '
        'model.save_weights("NAME.weights.h5") and load_weights into a model '
        'built with official.build_model from the same config')

  _why_no_keras_file = 'Keras cannot rebuild it from a config;'


class InvertibleAutoencoder(Autoencoder):
  """One invertible map `F: x -> u` plus a choice of prior dimensions of `u`:
  `encode_full(x)` / `decode_full(u)` are the exact round trip.

  Subclasses set the flow and `latent_size` and implement `restrict`,
  `extend` and `sample_codes` (see `Autoencoder`).
  """

  is_invertible = True
  _why_no_keras_file = ('its flow is a TFP bijector, which Keras cannot '
                        'serialize;')

  def __init__(self, flow, image_shape, **kwargs):
    super().__init__(image_shape, **kwargs)
    self._flow_bijector = flow
    self.flow_layers = collect_keras_layers(flow)

  @property
  def flow(self):
    """The `tfb.Bijector` x -> u that the model is built on."""
    return self._flow_bijector

  @property
  def code_size(self):
    return int(self.flow.forward_event_shape(self.flow_input_shape)[-1])

  @property
  def flow_input_shape(self):
    """The event shape the flow takes (the image after preprocessing)."""
    return self.image_shape

  def build_flow(self):
    """Creates every variable by running the flow once on zeros."""
    self.encode_full(tf.zeros((1,) + self.image_shape, self.compute_dtype))
    self.built = True

  def _flow_forward(self, x):
    return self.flow.forward(x)

  def _flow_inverse(self, u):
    return self.flow.inverse(u)

  # The checks return a new tensor: TFP's bijector cache is keyed on the
  # input tensor and would otherwise return results computed with the weights
  # of an earlier call on the same tensor.

  def encode_full(self, x):
    return self._flow_forward(self._check_images(x))

  def decode_full(self, u):
    return self._flow_inverse(self._check_codes(u, self.code_size, 'codes'))


def check_image_shape(config, image_shape, model_name):
  """Raises a `ConfigError` if `config` fixes an image shape other than
  `image_shape` (the check of the configs' `for_data`)."""
  if config.image_shape is not None and tuple(config.image_shape) != tuple(
      image_shape):
    raise ConfigError(f'this {model_name} takes {config.image_shape} images, '
                      f'not {tuple(image_shape)}')


def standard_normal(shape, seed=None, dtype=tf.float32, stream=0):
  """N(0, I) draws; reproducible when `seed` (a Python or tensor int) is set.
  Draws of one seed in different `stream`s are independent."""
  if seed is None:
    return tf.random.normal(shape, dtype=dtype)
  seed = tf.cast(tf.stack([seed, stream]), tf.int64)
  return tf.random.stateless_normal(shape, seed=seed, dtype=dtype)

r"""The serving module of a trained model: its SavedModel for TF Serving.

`save(model, path)` writes the model with the signatures

| signature | inputs | outputs |
| --- | --- | --- |
| serving_default, encode | images: float32 (N, H, W, C) in [0, 1] | codes: (N, d) |
| encode_full | images | codes: (N, D) |
| decode | codes: float32 (N, d) | images: (N, H, W, C) |
| decode_full | codes: float32 (N, D) | images |
| sample | num_samples: int32 (), seed: int64 () | images |
| sample_class (OT) | labels: int32 (N,), seed: int64 () | images |
| log_prob (PIE) | images | log_prob: (N,) |
| sample_density (PIE) | num_samples, seed, temperature: float32 () | images |

Every signature checks its request and refuses a bad one with an
`InvalidArgumentError` whose TensorFlow message starts with the rule broken:
`images must be finite and in [-0.5, 1.5]` (the scale is [0, 1]; decoded
images, not clipped, may lie a little outside), `codes must be finite`,
`num_samples must be in [0, MAX]` (MAX set at export, `--max_samples`),
`labels must be in 0..9`, `temperature must be finite and >= 0`, or a shape.

The SavedModel is written under a hidden temporary name beside its version
folder and renamed into place once complete (`official.files`), so TF
Serving, which loads every numeric folder that appears, never sees half of
one. Serving needs TensorFlow only: no Python code of this project, no POT.
`restore_from_export` reads the weights back into a model of the same
config (`--init_from`). The program `official.export` writes a run's model
to a TF Serving folder with it.
"""

import functools
import itertools
import os
import re

from official import files
from official.errors import ExportError

__all__ = ['DEFAULT_MAX_SAMPLES', 'ExportError', 'next_version',
           'restore_from_export', 'save', 'serving_module']

# The most images one `sample` or `sample_class` request may ask for, unless
# the export sets another cap: 4,096 MNIST digits are 12.8 MB of float32.
DEFAULT_MAX_SAMPLES = 4096


def next_version(base):
  """One more than the highest version folder (all digits) in `base`, or 1."""
  names = os.listdir(base) if os.path.isdir(base) else ()
  return 1 + max((int(n) for n in names if re.fullmatch(r'[0-9]+', n)),
                 default=0)


def _exported_variables(model):
  """The model's `tf.Variable`s in a fixed order: the flow's, then the rest.

  Track the tf.Variables behind the weights, not the Keras variables: Keras
  exports each of those as a second copy that only TF2's loader links to the
  graphs, so TF Serving would run them on unrestored variables.
  """
  found = {id(v): v for v in (model.flow.variables if model.is_invertible
                                else [])}
  for weight in model.weights:
    value = getattr(weight, 'value', weight)
    found.setdefault(id(value), value)
  return list(found.values())


@functools.lru_cache(maxsize=None)
def _method_class():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  class Method(tf.Module):
    """One exported method that holds the model's variables itself.

    A loaded SavedModel's functions refer to their variables weakly, so
    `tf.saved_model.load(path).sample(...)` would fail once the loaded root,
    which nothing holds, is collected. Loaded, this object is callable (its
    `__call__` child) and keeps the variables alive while it is called.
    """

    # Plain attributes in place of tf.Module's properties: saved with the
    # method, they are how Keras' TFSMLayer finds a loaded one's weights.
    variables = ()
    trainable_variables = ()

    def __init__(self, function, input_signatures, variables):
      super().__init__()
      self.variables = variables
      self.trainable_variables = [v for v in variables if v.trainable]
      self.__call__ = function
      self._input_signatures = input_signatures

    def __call__(self, *args, **kwargs):  # before export; loaded, the child
      return self.__dict__['__call__'](*args, **kwargs)

    def _trackable_children(self, save_type='checkpoint', **kwargs):
      # Traced here, inside `tf.saved_model.save`: a function traced before
      # it is traced again there, and the SavedModel would hold both copies
      # of every graph it calls.
      if save_type == 'savedmodel':
        for specs in self._input_signatures:
          self.__dict__['__call__'].get_concrete_function(*specs)
      return super()._trackable_children(save_type, **kwargs)

  return Method


def _shape_checked(tensor, spec):
  """`tensor` with `spec`'s shape, or an error that names the shape wanted.

  The reshape sits in a branch that runs only on a matching shape: a loaded
  method called with another shape would otherwise fail in TensorFlow's
  shape inference, before the check could say what is wrong.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  expected = list(spec.shape[1:])
  shape = tf.shape(tensor)
  matches = tf.cond(
      tf.equal(tf.size(shape), len(expected) + 1),
      lambda: tf.reduce_all(tf.equal(shape[1:], expected)),
      lambda: tf.constant(False))
  message = f'{spec.name} must have shape (N, {", ".join(map(str, expected))})'

  def reject():
    with tf.control_dependencies([tf.debugging.Assert(
        False, [message + ', got', shape], summarize=8)]):
      return tf.zeros([0] + expected, tensor.dtype)

  return tf.cond(matches, lambda: tf.reshape(tensor, [-1] + expected), reject)


def _empty_batch_safe(function, event_shape):
  """`function` of a batch, giving an empty batch of `event_shape` for an
  empty one without calling it: PIE's convolutions refuse empty batches."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def call(batch):
    return tf.cond(tf.shape(batch)[0] > 0, lambda: function(batch),
                   lambda: tf.zeros((0,) + tuple(event_shape), batch.dtype))

  return call


def _refused_unless(condition, message, value):
  """`value`, once `condition` holds; else an `InvalidArgumentError` whose
  runtime message is `assertion failed: [MESSAGE]`, the first line that TF
  Serving returns to its client."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tf.control_dependencies([tf.debugging.Assert(condition, [message])]):
    return tf.identity(value)


# How far outside [0, 1] a pixel may lie: decoded images are the flow's
# exact output, not clipped (the shipped PIE's samples span -0.013..1.135),
# and encoding them again must work; 8-bit pixels (up to 255) must not.
_IMAGE_MARGIN = 0.5


def _checked_images(images, spec):
  """`images` of `spec`'s shape with every pixel finite and within
  `_IMAGE_MARGIN` of [0, 1]."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  images = _shape_checked(images, spec)
  low, high = -_IMAGE_MARGIN, 1 + _IMAGE_MARGIN
  # A comparison with NaN is false, so this refuses non-finite pixels too.
  return _refused_unless(
      tf.reduce_all((images >= low) & (images <= high)),
      f'images must be finite and in [{low}, {high}] (the scale is [0, 1]; '
      '8-bit pixels: divide by 255)', images)


def _checked_codes(codes, spec):
  """`codes` of `spec`'s shape, all finite."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  codes = _shape_checked(codes, spec)
  return _refused_unless(tf.reduce_all(tf.math.is_finite(codes)),
                         'codes must be finite', codes)


def _checked_temperature(temperature):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  temperature = tf.convert_to_tensor(temperature)
  return _refused_unless(
      tf.math.is_finite(temperature) & (temperature >= 0),
      'temperature must be finite and >= 0', temperature)


def serving_module(model, max_samples=DEFAULT_MAX_SAMPLES):
  """A `tf.Module` with the model's variables, one callable method per
  endpoint, and the serving signatures.

  The methods take inputs of any shape and check it themselves, so that a
  wrong one gets the documented message; `sample` and `sample_class` take an
  optional `temperature` (the prior's std is multiplied by it). TF Serving
  signatures have no optional inputs, so `sample_with_temperature` (and
  `sample_class_with_temperature`) serve it there. Every endpoint refuses
  bad values (`_refused_unless`); `sample` and `sample_class` draw at most
  `max_samples` images per call.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  dtype = model.compute_dtype
  image_spec = tf.TensorSpec((None,) + model.image_shape, dtype,
                             name='images')
  latent = model.latent_size
  code_spec = tf.TensorSpec((None, latent), dtype, name='codes')
  full_code_spec = tf.TensorSpec((None, model.code_size), dtype, name='codes')
  seed_spec = tf.TensorSpec((), tf.int64, name='seed')
  temperature_spec = tf.TensorSpec((), dtype, name='temperature')
  module = tf.Module()
  module.weights = _exported_variables(model)
  method = _method_class()

  # The endpoints branch on Python values only (tensor conditions are
  # `tf.cond`s); autograph would rewrite the model's, TFP's and Keras' code
  # at every trace for nothing.
  function = functools.partial(tf.function, autograph=False)
  # The flow is traced once each way (and PIE's log-likelihood once); every
  # endpoint calls these, so the SavedModel holds one copy of each graph.
  to_codes = _empty_batch_safe(function(
      model.encode_full, input_signature=[image_spec]), (model.code_size,))
  to_images = _empty_batch_safe(function(
      model.decode_full, input_signature=[full_code_spec]), model.image_shape)

  def any_shape(spec):  # images and codes: checked by `_shape_checked`
    if spec.shape.rank < 2:
      return spec
    return tf.TensorSpec(None, spec.dtype, name=spec.name)

  def add(name, endpoint, specs, optional=()):
    """`endpoint` as the method `name` (inputs of any shape, `optional`
    inputs optional) and as the signature `name` (the documented shapes)."""
    method_specs = [[any_shape(s) for s in specs]]
    if optional:
      method_specs.append(method_specs[0] + list(optional))
    setattr(module, name, method(function(endpoint), method_specs,
                                 module.weights))
    signatures[name] = function(endpoint, input_signature=specs)
    if optional:
      signatures[f'{name}_with_temperature'] = function(
          endpoint, input_signature=specs + list(optional))

  signatures = {}
  add('encode', lambda images: {'codes': tf.ensure_shape(
      model.restrict(to_codes(_checked_images(images, image_spec))),
      (None, latent))}, [image_spec])
  signatures['serving_default'] = signatures['encode']
  add('encode_full', lambda images: {
      'codes': to_codes(_checked_images(images, image_spec))}, [image_spec])
  add('decode', lambda codes: {'images': to_images(model.extend(
      _checked_codes(codes, code_spec)))}, [code_spec])
  add('decode_full', lambda codes: {
      'images': to_images(_checked_codes(codes, full_code_spec))},
      [full_code_spec])

  def sampler(**options):
    """The `sample` endpoint; PIE's `density=True` for `sample_density`."""
    def sample(num_samples, seed, temperature=1.0):
      num_samples = _refused_unless(
          (num_samples >= 0) & (num_samples <= max_samples),
          f'num_samples must be in [0, {max_samples}]', num_samples)
      return {'images': to_images(model.sample_codes(
          num_samples, seed=seed,
          temperature=_checked_temperature(temperature), **options))}
    return sample

  sample_specs = [tf.TensorSpec((), tf.int32, name='num_samples'), seed_spec]
  add('sample', sampler(), sample_specs, [temperature_spec])
  classes = model.num_classes
  if classes:
    def sample_class(labels, seed, temperature=1.0):
      labels = _refused_unless(
          tf.size(labels) <= max_samples,
          f'labels must have at most {max_samples} entries (num_samples)',
          labels)
      labels = _refused_unless(
          tf.reduce_all((labels >= 0) & (labels < classes)),
          f'labels must be in 0..{classes - 1}', labels)
      return {'images': to_images(model.sample_codes(
          tf.shape(labels)[0], labels, seed=seed,
          temperature=_checked_temperature(temperature)))}
    class_specs = [tf.TensorSpec((None,), tf.int32, name='labels'), seed_spec]
    add('sample_class', sample_class, class_specs, [temperature_spec])
    add('class_gaussians', lambda: {'means': tf.convert_to_tensor(
        model.class_means), 'stds': tf.convert_to_tensor(model.class_stds)},
        [])
  if model.has_density:
    sample_density = sampler(density=True)
    density_specs = sample_specs + [temperature_spec]
    setattr(module, 'sample_density', method(
        function(sample_density), [[any_shape(s) for s in sample_specs],
                                   density_specs], module.weights))
    signatures['sample_density'] = function(sample_density,
                                            input_signature=density_specs)
    to_log_prob = _empty_batch_safe(
        function(model.log_prob, input_signature=[image_spec]), ())
    add('log_prob', lambda images: {'log_prob': to_log_prob(
        _checked_images(images, image_spec))}, [image_spec])
  return module, signatures


def save(model, path, max_samples=DEFAULT_MAX_SAMPLES):
  """Writes `model` as a SavedModel with the serving signatures to `path`,
  which must not exist: under a temporary name, renamed to `path` once
  complete (`official.files.written_atomically`).

  Raises:
    ExportError: if `path` exists.
    official.files.WriteError: if it cannot be written (a full disk), with
      nothing left behind.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if os.path.exists(path):
    raise ExportError(f'{path} exists; choose another --version')
  module, signatures = serving_module(model, max_samples)
  with files.written_atomically(path) as temp:
    # With the custom gradients (the RevNet's small-image convolutions,
    # `layers.ConvStack`): without them a loaded RevNet fails under any
    # GradientTape, a frozen layer in `fit` too. They add 0.27 MB of graph to
    # the OT RevNet, nothing to PIE.
    tf.saved_model.save(module, temp, signatures=signatures,
                        options=tf.saved_model.SaveOptions(
                            experimental_custom_gradients=True))


def restore_from_export(model, path):
  """Assigns the weights of the SavedModel at `path`, which `save` wrote for
  a model of the same config, to `model`.

  The weights are read from the export's variables checkpoint, in the order
  of the module's `weights` list (its keys `weights/N`): loading the
  SavedModel itself would also restore every exported function, seconds of
  CPU for weights alone.

  Raises:
    ExportError: if the export's weights do not match the model's, naming
      the first difference.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  model.encode_full(tf.zeros((1,) + model.image_shape, model.compute_dtype))
  ours = _exported_variables(model)
  reader = tf.train.load_checkpoint(
      os.path.join(path, 'variables', 'variables'))
  shapes = reader.get_variable_to_shape_map()
  key = 'weights/{}/.ATTRIBUTES/VARIABLE_VALUE'.format
  keys = list(itertools.takewhile(shapes.__contains__,
                                  map(key, itertools.count())))
  if len(ours) != len(keys):
    raise ExportError(f'{path} holds {len(keys)} weights, the model '
                      f'{len(ours)}: another model config')
  for index, (mine, key) in enumerate(zip(ours, keys)):
    if mine.shape != shapes[key]:
      raise ExportError(f'{path}: weight {index} ({mine.name}) has shape '
                        f'{shapes[key]} there, {mine.shape.as_list()} in the '
                        'model')
  for mine, key in zip(ours, keys):
    mine.assign(reader.get_tensor(key))

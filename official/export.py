r"""Exports a trained model as a SavedModel for TF Serving:

  python -m official.export --experiment=pie_mnist --model_dir=runs/pie \
      --export_dir=exports [--version=1]

writes `exports/pie_mnist/1/` with the signatures

| signature | inputs | outputs |
| --- | --- | --- |
| serving_default, encode | images: float32 (N, H, W, C) in [0, 1] | codes: (N, d) |
| encode_full | images | codes: (N, D) |
| decode | codes: float32 (N, d) | images: (N, H, W, C) |
| decode_full | codes: float32 (N, D) | images |
| sample | num_samples: int32 (), seed: int64 () | images |
| sample_class (OT) | labels: int32 (N,), seed: int64 () | images |
| log_prob (PIE) | images | log_prob: (N,) |

Serving needs TensorFlow only: no Python code of this project, no POT.
"""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top
FLAGS = flags.FLAGS


def _define_flags():
  """Flags of the command line (defined only when run as a program)."""
  flags.DEFINE_string('experiment', None, 'Experiment name.')
  flags.DEFINE_string('model_dir', None, 'The training run to export.')
  flags.DEFINE_string('export_dir', None, 'Base folder; the export goes to '
                      'EXPORT_DIR/EXPERIMENT/VERSION.')
  flags.DEFINE_integer('version', 1, 'Model version (TF Serving).')


class ExportError(ValueError):
  """The export's target exists."""


def serving_module(model):
  """A `tf.Module` with the model's variables and one `tf.function` per
  signature."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  dtype = model.compute_dtype
  image_spec = tf.TensorSpec((None,) + model.image_shape, dtype,
                             name='images')
  latent = getattr(model, 'latent_size', None) or model.config.num_prior_dims
  code_spec = tf.TensorSpec((None, latent), dtype, name='codes')
  full_code_spec = tf.TensorSpec((None, model.code_size), dtype, name='codes')
  module = tf.Module()
  # Track the tf.Variables behind the weights, not the Keras variables: Keras
  # exports each of those as a second copy that only TF2's loader links to the
  # graphs, so TF Serving would run them on unrestored variables.
  variables = {id(v): v for v in model.flow.variables}
  for weight in model.weights:
    value = getattr(weight, 'value', weight)
    variables.setdefault(id(value), value)
  module.weights = list(variables.values())
  shaped = tf.ensure_shape

  def checked(tensor, spec):
    # Loaded signatures may run on a mismatched shape: refuse it by name.
    expected = [d for d in spec.shape[1:]]
    with tf.control_dependencies([tf.debugging.assert_equal(
        tf.shape(tensor)[1:], expected,
        message=f'{spec.name} must have shape (N, '
                f'{", ".join(map(str, expected))})')]):
      return tf.identity(tensor)

  # The flow is traced once each way; every signature calls these two, so
  # the SavedModel holds one copy of each graph.
  to_codes = tf.function(model.encode_full, input_signature=[image_spec])
  to_images = tf.function(model.decode_full, input_signature=[full_code_spec])
  seed_spec = tf.TensorSpec((), tf.int64, name='seed')

  module.encode = tf.function(
      lambda images: {'codes': shaped(model.restrict(to_codes(
          checked(images, image_spec))), (None, latent))},
      input_signature=[image_spec])
  module.encode_full = tf.function(
      lambda images: {'codes': to_codes(checked(images, image_spec))},
      input_signature=[image_spec])
  module.decode = tf.function(
      lambda codes: {'images': to_images(model.extend(checked(codes,
                                                              code_spec)))},
      input_signature=[code_spec])
  module.decode_full = tf.function(
      lambda codes: {'images': to_images(checked(codes, full_code_spec))},
      input_signature=[full_code_spec])
  module.sample = tf.function(
      lambda num_samples, seed: {'images': to_images(model.sample_codes(
          num_samples, seed=seed))},
      input_signature=[tf.TensorSpec((), tf.int32, name='num_samples'),
                       seed_spec])
  signatures = {'serving_default': module.encode, 'encode': module.encode,
                'encode_full': module.encode_full, 'decode': module.decode,
                'decode_full': module.decode_full, 'sample': module.sample}
  classes = getattr(model.config, 'num_classes', 0)
  if classes:
    def sample_class(labels, seed):
      message = f'labels must be in 0..{classes - 1}'
      with tf.control_dependencies([
          tf.debugging.assert_non_negative(labels, message=message),
          tf.debugging.assert_less(labels, classes, message=message)]):
        labels = tf.identity(labels)
      return {'images': to_images(model.sample_codes(
          tf.shape(labels)[0], labels, seed=seed))}
    module.sample_class = tf.function(
        sample_class, input_signature=[
            tf.TensorSpec((None,), tf.int32, name='labels'), seed_spec])
    signatures['sample_class'] = module.sample_class
  if hasattr(model, 'log_prob'):
    module.log_prob = tf.function(
        lambda images: {'log_prob': model.log_prob(checked(images,
                                                           image_spec))},
        input_signature=[image_spec])
    signatures['log_prob'] = module.log_prob
  return module, signatures


def export(experiment, model_dir, export_dir, version=1):
  """Writes the SavedModel to EXPORT_DIR/EXPERIMENT/VERSION; returns its path."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official import run_dir  # pylint: disable=g-import-not-at-top
  model = run_dir.restore_model(experiment, model_dir)
  path = os.path.join(export_dir, experiment, str(version))
  if os.path.exists(path):
    raise ExportError(f'{path} exists; choose another --version')
  module, signatures = serving_module(model)
  # Serving needs no gradients; saving them would add a graph per coupling.
  tf.saved_model.save(module, path, signatures=signatures,
                      options=tf.saved_model.SaveOptions(
                          experimental_custom_gradients=False))
  return path


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  for name in ('experiment', 'model_dir', 'export_dir'):
    if not FLAGS[name].value:
      raise app.UsageError(f'--{name} is required')
  try:
    path = export(FLAGS.experiment, FLAGS.model_dir, FLAGS.export_dir,
                  FLAGS.version)
  except (ValueError, OSError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  print(f'exported {path}')


if __name__ == '__main__':
  _define_flags()
  app.run(main)

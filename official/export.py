r"""Exports a trained model as a SavedModel for TF Serving:

  python -m official.export --model_dir=runs/pie --export_dir=exports \
      [--version=N] [--experiment=pie_mnist]

writes `exports/pie_mnist/1/` (then `2/`, ... : the next free version unless
`--version` names one), a SavedModel with the signatures listed in
`official.serving`, written whole or not at all. The experiment is the one
the run records; `--experiment` checks that the run is one of it.
"""

import os
import sys
import warnings

from official import cli  # pylint: disable=g-import-not-at-top

cli.quiet_tensorflow()  # before anything imports TensorFlow

from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top

from official import errors  # pylint: disable=g-import-not-at-top
from official import run_dir  # pylint: disable=g-import-not-at-top
from official import serving  # pylint: disable=g-import-not-at-top
FLAGS = flags.FLAGS


def _define_flags():
  """Flags of the command line (defined only when run as a program)."""
  flags.DEFINE_string('experiment', None, 'Experiment name; default: the one '
                      'the run records in MODEL_DIR/experiment.json.')
  flags.DEFINE_string('model_dir', None, 'The training run to export.')
  flags.DEFINE_string('export_dir', None, 'Base folder; the export goes to '
                      'EXPORT_DIR/EXPERIMENT/VERSION.')
  flags.DEFINE_integer('version', None, 'Model version (TF Serving); default: '
                       'the next free one (1 in a new folder).', lower_bound=1)
  flags.DEFINE_integer('max_samples', serving.DEFAULT_MAX_SAMPLES, 'The most '
                       'images one sample or sample_class request may ask '
                       'for; a larger num_samples is refused.', lower_bound=1)


def export(experiment, model_dir, export_dir, version=None,
           max_samples=serving.DEFAULT_MAX_SAMPLES):
  """Writes the run's model to EXPORT_DIR/EXPERIMENT/VERSION (by default the
  next free version); returns its path.

  Args:
    experiment: the run's experiment name, or `None` for the one its
      `experiment.json` records.
    model_dir: the training run.
    export_dir: the base folder.
    version: the version folder's number; by default the next free one.
    max_samples: the most images one `sample` request may ask for.

  Raises:
    official.errors.Error: a folder without a run of `experiment`, an
      existing version, or a file that cannot be written.
  """
  experiment = run_dir.read_experiment_info(experiment,
                                            model_dir)['experiment']
  base = os.path.join(export_dir, experiment)
  path = os.path.join(base, str(version or serving.next_version(base)))
  if os.path.exists(path):
    raise errors.ExportError(f'{path} exists; choose another --version')
  serving.save(run_dir.restore_model(experiment, model_dir), path,
               max_samples)
  return path


_MOVED_TO_SERVING = ('DEFAULT_MAX_SAMPLES', 'ExportError', 'next_version',
                     'restore_from_export', 'save', 'serving_module')


def __getattr__(name):
  """The library names this program held before `official.serving`."""
  if name in _MOVED_TO_SERVING:
    warnings.warn(f'official.export.{name} is official.serving.{name} now; '
                  'the old name goes in the next release',
                  DeprecationWarning, stacklevel=2)
    return getattr(serving, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  cli.require(FLAGS, 'model_dir', 'export_dir')
  try:
    path = export(FLAGS.experiment, FLAGS.model_dir, FLAGS.export_dir,
                  FLAGS.version, FLAGS.max_samples)
  except errors.Error as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  print(f'exported {path}')


if __name__ == '__main__':
  _define_flags()
  cli.run(main)

r"""Plots one training scalar of several runs over their steps, as a PNG:

  python -m official.plot_runs --tag=train/bits_per_dim \
      --model_dir=runs/pie_eps0.01 --model_dir=runs/pie_eps0.1 \
      --output=bits_per_dim.png

Each run is labelled with its folder's name. The scalars are the ones the
trainer writes to MODEL_DIR/train every `--log_every` steps (TensorBoard
shows the same).
"""

import os
import sys

from official import cli  # pylint: disable=g-import-not-at-top

cli.quiet_tensorflow()  # before anything imports TensorFlow

from absl import flags  # pylint: disable=g-import-not-at-top

from official import errors  # pylint: disable=g-import-not-at-top
from official import run_dir  # pylint: disable=g-import-not-at-top
from official import visualize  # pylint: disable=g-import-not-at-top

_MODEL_DIR = flags.DEFINE_multi_string(
    'model_dir', [], 'A run to plot; repeat for each run.')
_TAG = flags.DEFINE_string(
    'tag', 'train/loss', 'The scalar to plot, e.g. train/bits_per_dim.')
_OUTPUT = flags.DEFINE_string('output', None, 'Where to write the PNG.')
_Y_MAX = flags.DEFINE_float(
    'y_max', None, 'The top of the y axis; a run that diverges above it '
    'leaves the plot there. Default: above the highest value.')
_REFERENCE = flags.DEFINE_multi_string(
    'reference', [], 'LABEL=VALUE: a horizontal line at VALUE across the '
    'runs\' steps, e.g. data=0.18 for the test images\' sharpness. '
    'Repeatable.')


def plot_runs(model_dirs, tag, output, references=(), y_max=None):
  """Writes `tag` of each run in `model_dirs` over its steps to `output`,
  with a horizontal line for each (label, value) of `references`, the y axis
  up to `y_max`."""
  series = {}
  for model_dir in model_dirs:
    curve = run_dir.read_scalars(model_dir, tag).get(tag)
    if curve is None:
      raise errors.RunDirError(
          f'no scalar {tag!r} in {os.path.join(model_dir, "train")}')
    series[os.path.basename(os.path.normpath(model_dir))] = curve
  steps = [step for step_values, _ in series.values() for step in step_values]
  for label, value in references:
    series[label] = ([min(steps), max(steps)], [value, value])
  return visualize.save_line_plot(series, output, tag, 'training step', tag,
                                  y_max=y_max)


def _reference(text):
  label, _, value = text.rpartition('=')
  try:
    if label:
      return label, float(value)
  except ValueError:
    pass
  raise errors.ConfigError(f'bad --reference {text!r}: use LABEL=VALUE, e.g. '
                           f'data=0.18')


def main(argv):
  if len(argv) > 1:
    cli.usage_error(f'unexpected arguments: {" ".join(argv[1:])}')
  cli.require(flags.FLAGS, 'model_dir', 'output')
  try:
    references = [_reference(text) for text in _REFERENCE.value]
    print(plot_runs(_MODEL_DIR.value, _TAG.value, _OUTPUT.value, references,
                    _Y_MAX.value))
  except errors.Error as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)


if __name__ == '__main__':
  cli.run(main)

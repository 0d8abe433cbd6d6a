"""The GPU check script at toy sizes, on whatever device TensorFlow sees
(a GPU where there is one, else the CPU): every part reports, none fails,
and a part past the time budget is skipped and says so."""

import json
import os
import sys

from tests import forked
from tests.helpers import REPO

_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONPATH=REPO)


def _check(tmp_path, *flags):
  output = tmp_path / 'gpu_check.json'
  forked.run([sys.executable, '-m', 'official.benchmarks.gpu_check',
              '--tiny', f'--output={output}', *flags], cwd=tmp_path,
             env=_ENV, check=True, capture_output=True, timeout=900)
  return json.loads(output.read_text())


def _visible_gpus():
  """The GPUs TensorFlow sees in this process (none on a CPU machine)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return [d.name for d in tf.config.list_logical_devices('GPU')]


def test_every_part_reports_at_toy_sizes(tmp_path):
  report = _check(tmp_path)
  gpus = _visible_gpus()
  # The steps run on the first GPU where there is one, else on the CPU.
  device = gpus[0] if gpus else 'CPU'
  assert report['tiny'] and len(report['devices']) == len(gpus)
  steps = report['celeba_step']
  assert [(s['jit_compile'], s['memory_saving']) for s in steps] == [
      (False, True), (False, False), (True, True), (True, False)]
  for result in steps + report['precision']:
    assert 'error' not in result, result
    # bfloat16 networks loosen the round trip (docs/training.md).
    bound = 5e-2 if result['mixed_precision'] else 1e-5
    assert result['round_trip_max_abs_error'] < bound
    assert result['step_s_median'] > 0 and result['device'] == device
  assert [(p['tf32'], p['mixed_precision']) for p in report['precision']] == [
      (True, False), (False, True)]
  assert [t['experiment'] for t in report['trainers']] == [
      'pie_mnist', 'revnet_ot_mnist', 'revnet_aae_celeba64']
  assert all(t.get('steps') == 2 for t in report['trainers']), report


def test_parts_past_the_budget_are_skipped(tmp_path):
  report = _check(tmp_path, '--budget_s=0')
  for name in ('celeba_step', 'precision', 'trainers'):
    assert all('past the budget of 0 s' in item['skipped']
               for item in report[name]), report[name]

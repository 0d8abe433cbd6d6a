"""The benchmark tools run and report what they promise (no timings asserted)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from official.benchmarks import one_step
from tests import forked
from tests.helpers import REPO
from tests.helpers import tiny_overrides


def _model_items(name):
  return {f'model.{key}': value for key, value in tiny_overrides(name).items()}


def test_one_step_builds_a_generic_recipe_for_any_shape():
  result = one_step.measure('pie', None, batch_size=4, steps=1,
                            overrides=_model_items('pie'),
                            jit_compile=False, image_shape=(16, 12, 3))
  assert result['image_shape'] == [16, 12, 3] and len(result['step_s']) == 1
  assert 0. < result['round_trip_max_abs_error'] < 1e-4
  with pytest.raises(ValueError, match='give --image_size'):
    one_step.measure('pie', None, 4, 1, {}, False)


def test_one_step_reports_timings_memory_and_round_trip():
  result = one_step.measure(
      'revnet_aae_celeba64', 'reconstruction', batch_size=4, steps=2,
      overrides=_model_items('revnet_aae_celeba64'),
      jit_compile=False)
  assert result['phase'] == 'reconstruction' and len(result['step_s']) == 2
  assert result['overrides'] == {'stages': repr(tiny_overrides(
      'revnet_aae_celeba64')['stages'])}
  assert 0. < result['round_trip_max_abs_error'] < 1e-5
  assert (result['peak_rss_mib_at_exit'] >= result['peak_rss_mib']
          >= result['peak_rss_mib_before_step'] > 0.)
  assert result['encode_images_per_s'] > 0. < result['decode_images_per_s']
  assert result['step_gflop'] > 0.
  assert result['tf32'] is False  # the flow's default


def test_graph_flops_counts_each_multiply_add_twice():
  @tf.function
  def layer(x, kernel, w):
    y = tf.nn.conv2d(x, kernel, strides=1, padding='SAME')  # 8x8 out, 3x3x2->5
    return tf.matmul(tf.reshape(y, (4, 320)), w)  # (4, 320) x (320, 7)

  graph = layer.get_concrete_function(
      tf.TensorSpec((4, 8, 8, 2)), tf.TensorSpec((3, 3, 2, 5)),
      tf.TensorSpec((320, 7))).graph
  assert one_step.graph_flops(graph) == (
      2 * (4 * 8 * 8 * 5) * (3 * 3 * 2) + 2 * 4 * 320 * 7)


def test_benchmark_skips_xla_where_the_step_cannot_compile(tmp_path):
  output = tmp_path / 'bench.json'
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  forked.run(
      [sys.executable, '-m', 'official.benchmark',
       '--experiment=revnet_ot_mnist', '--phase=ot', '--xla=true',
       '--tf32=false,true', f'--output={output}'], cwd=REPO, env=env,
      check=True, capture_output=True)
  results = json.loads(output.read_text())
  assert [(r['memory_saving'], r['tf32']) for r in results] == [
      (True, False), (True, True), (False, False), (False, True)]
  assert all('POT outside TensorFlow' in r['skipped'] for r in results)
  bad = forked.run(
      [sys.executable, '-m', 'official.benchmark',
       '--experiment=pie_mnist', '--phase=adversarial'], cwd=REPO, env=env,
      capture_output=True, text=True)
  assert bad.returncode == 1
  assert ('--phase=adversarial: pie_mnist has the phases train'
          in bad.stderr)


@pytest.mark.parametrize('args, message', [
    (['--params_override=model.steps'],
     "bad --params_override 'model.steps': use SECTION.KEY=VALUE"),
    (['--override=steps'], "bad --override 'steps': use MODEL.KEY=VALUE"),
    (['--params_override=model.nope=1'], "bad override 'model.nope'"),
])
def test_one_step_refuses_a_bad_override_in_one_line(args, message):
  done = forked.run(
      [sys.executable, '-m', 'official.benchmarks.one_step',
       '--experiment=pie_mnist'] + args, cwd=REPO,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'), capture_output=True,
      text=True)
  assert done.returncode == 1
  assert done.stderr.strip().splitlines() == [f'error: {message}'] or (
      message in done.stderr.strip().splitlines()[-1]), done.stderr


def test_end_to_end_times_the_trainer_on_a_release_beside_the_step(tmp_path):
  output = tmp_path / 'e2e.json'
  forked.run(
      [sys.executable, '-m', 'official.benchmark',
       '--experiment=revnet_aae_celeba64', '--phase=reconstruction',
       '--batch_size=4', '--steps=2', '--end_to_end', '--release_images=20',
       '--model_override=stages=((4,1,3),(4,1,3),(4,1,3),(4,1,3),(4,1,3),'
       '(4,1,1))', '--model_override=num_prior_dims=8', f'--output={output}'],
      cwd=REPO, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'), check=True,
      capture_output=True)
  [result] = json.loads(output.read_text())
  assert result['trainer']['step'] == 3  # a first step, then 2 timed ones
  assert result['step']['batch_size'] == 4 and len(result['step']['step_s']) == 2
  assert 'stages' in result['step']['overrides']
  step_median = float(np.median(result['step']['step_s']))
  assert result['step']['step_s_median'] == pytest.approx(step_median,
                                                          abs=1e-4)
  assert result['trainer_over_step'] == pytest.approx(
      result['trainer']['step_s_median'] / step_median, abs=2e-3)


def test_benchmark_is_quiet_and_reports_the_phase_asked_for(tmp_path):
  """A fresh process, as users start it: no TensorFlow start-up lines."""
  env = {k: v for k, v in os.environ.items()
         if k not in ('TF_CPP_MIN_LOG_LEVEL', 'PYTHONPATH')}
  done = subprocess.run(
      [sys.executable, '-m', 'official.benchmark', '--experiment=pie_mnist',
       '--phase=mle', '--xla=false', '--batch_size=4', '--steps=1',
       '--model_override=conv_hidden=8', '--model_override=dense_hidden=16',
       '--model_override=steps=1'], cwd=REPO, env=env, capture_output=True,
      text=True, timeout=600)
  assert done.returncode == 0, done.stderr
  assert done.stderr == ''
  [result] = [json.loads(line) for line in done.stdout.splitlines()]
  assert result['phase'] == 'mle' and len(result['step_s']) == 1

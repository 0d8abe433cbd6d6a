"""SIGTERM (a preemptible machine going away) and Ctrl-C: the run finishes
the step in flight, saves it, says so in one line, exits 128 + the signal,
and the same command resumes it to the same weights as an uninterrupted
run. After SIGKILL, which nothing can catch, it resumes from the last
periodic checkpoint to the same weights."""

import json
import os
import re
import signal
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests import forked
from tests.helpers import REPO

_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONPATH=REPO)


def _command(model_dir, checkpoint_every=60):
  # By default no periodic checkpoint but ckpt-0: what the signal saves is
  # all there is. Long enough that the run is still going when the test's
  # signal comes. How often a run saves does not change what it computes.
  return [sys.executable, '-m', 'official.train', '--experiment=pie_mnist',
          f'--model_dir={model_dir}', '--train_steps=60', '--batch_size=16',
          f'--checkpoint_every={checkpoint_every}', '--log_every=1',
          '--image_every=1000',
          '--deterministic', '--model_override=conv_hidden=8',
          '--model_override=dense_hidden=16', '--model_override=steps=1']


def _state(model_dir):
  reader = tf.train.load_checkpoint(os.path.join(model_dir, 'checkpoints'))
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if k.endswith('VARIABLE_VALUE') and not k.startswith('save_counter')}


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  model_dir = str(tmp_path_factory.mktemp('straight'))
  forked.run(_command(model_dir), env=_ENV, cwd=REPO, check=True,
             capture_output=True)
  return _state(model_dir)


@pytest.mark.parametrize('number', [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_the_step_and_the_run_resumes_exactly(
    number, uninterrupted, tmp_path):
  model_dir = str(tmp_path / 'run')
  process = forked.Popen(_command(model_dir), env=_ENV, cwd=REPO,
                         stdout=forked.PIPE, stderr=forked.PIPE,
                         text=True)
  for line in process.stdout:
    if line.startswith('step 12/'):
      break
  process.send_signal(number)
  time.sleep(0.05)
  process.send_signal(number)  # a second one, during the step or the save
  out, err = process.communicate(timeout=120)
  assert process.returncode == 128 + number, err
  last = out.strip().splitlines()[-1]
  found = re.fullmatch(
      rf'stopped by {number.name} at step (\d+): saved (\S+); the same '
      r'command resumes from there', last)
  assert found, out
  step = int(found.group(1))
  assert 12 <= step < 60
  assert found.group(2).endswith(f'ckpt-{step}')
  assert 'Traceback' not in err and 'KeyboardInterrupt' not in err
  assert not os.path.exists(os.path.join(model_dir, 'metrics.json'))
  assert tf.train.latest_checkpoint(os.path.join(
      model_dir, 'checkpoints')).endswith(f'ckpt-{step}')
  if number == signal.SIGINT:
    return  # the same checkpoint, resumed by the same code as after SIGTERM
  resumed = forked.run(_command(model_dir), env=_ENV, cwd=REPO,
                       check=True, capture_output=True, text=True)
  assert f'at step {step}' in resumed.stdout
  state = _state(model_dir)
  assert state.keys() == uninterrupted.keys()
  for key in state:
    np.testing.assert_allclose(state[key], uninterrupted[key], rtol=1e-6,
                               atol=1e-7, err_msg=key)


def _free_port():
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _workers(model_dir, cluster):
  """The two workers of a run of `_command` under MultiWorkerMirrored."""
  command = [a for a in _command(model_dir) if a != '--deterministic'] + [
      '--strategy=multi_worker', '--train_steps=40']
  return [forked.Popen(
      command, env=dict(_ENV, TF_CONFIG=json.dumps({
          'cluster': cluster, 'task': {'type': 'worker', 'index': index}})),
      cwd=REPO, stdout=forked.PIPE, stderr=forked.PIPE, text=True)
          for index in range(2)]


def test_sigterm_to_one_worker_stops_both_at_one_saved_step(tmp_path):
  cluster = {'worker': [f'127.0.0.1:{_free_port()}' for _ in range(2)]}
  model_dir = str(tmp_path / 'run')
  chief, other = _workers(model_dir, cluster)
  for line in chief.stdout:
    if line.startswith('step 8/'):
      break
  other.send_signal(signal.SIGTERM)
  outs = [p.communicate(timeout=180) for p in (chief, other)]
  assert [p.returncode for p in (chief, other)] == [143, 143], outs
  steps = [int(re.search(r'stopped by SIGTERM at step (\d+)', out).group(1))
           for out, _ in outs]
  assert steps[0] == steps[1] >= 8
  assert tf.train.latest_checkpoint(os.path.join(
      model_dir, 'checkpoints')).endswith(f'ckpt-{steps[0]}')
  resumed = [p.communicate(timeout=300) for p in _workers(model_dir, cluster)]
  done = [json.loads(re.search(r'^done \(\S+\): (.*)$', out, re.M).group(1))
          for out, _ in resumed]
  assert all(f'at step {steps[0]}' in out for out, _ in resumed)
  assert done[0]['step'] == 40
  assert done[0]['weights_fingerprint'] == done[1]['weights_fingerprint']


def test_sigkill_then_resume_matches_uninterrupted_training(uninterrupted,
                                                           tmp_path):
  model_dir = str(tmp_path / 'killed')
  process = forked.Popen(_command(model_dir, checkpoint_every=10), env=_ENV,
                         cwd=REPO, stdout=forked.PIPE, stderr=forked.STDOUT,
                         text=True)
  # The loop prints step 21 after it saved step 20; however fast the machine,
  # the kill comes at a step the loop reported, and the run resumes from the
  # newest checkpoint it had completed then (20, or a later one).
  for line in process.stdout:
    if line.startswith('step 21/'):
      break
  process.send_signal(signal.SIGKILL)
  process.wait()
  process.stdout.close()
  newest = tf.train.latest_checkpoint(os.path.join(model_dir, 'checkpoints'))
  saved = int(newest.rsplit('-', 1)[1])
  assert saved >= 20 and saved % 10 == 0, newest
  assert not os.path.exists(os.path.join(model_dir, 'metrics.json'))
  resumed = forked.run(_command(model_dir, checkpoint_every=10), env=_ENV,
                       cwd=REPO, check=True, capture_output=True, text=True)
  assert f'resumed from {newest} at step {saved}' in resumed.stdout
  state = _state(model_dir)
  assert state.keys() == uninterrupted.keys()
  assert len(state) > 3 * 70  # 77 weights, Adam's 2 moments of each, step
  for key in state:
    np.testing.assert_allclose(state[key], uninterrupted[key], rtol=1e-6,
                               atol=1e-7, err_msg=key)
  with open(os.path.join(model_dir, 'metrics.json')) as f:
    assert json.load(f)['step'] == 60

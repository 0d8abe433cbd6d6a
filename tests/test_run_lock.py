"""One live run per model_dir: a second `official.train` is refused in one
line naming the holder, the live run is not disturbed, evaluation and export
read its checkpoints, and a lock left by a killed run does not block."""

import json
import os
import re
import signal
import socket
import sys

import pytest

from tests import forked
from tests.helpers import REPO
from trainers import run_lock

# The programs' own quiet start (TF_CPP_MIN_LOG_LEVEL unset): stderr holds
# only what they say.
_ENV = dict({k: v for k, v in os.environ.items()
             if k != 'TF_CPP_MIN_LOG_LEVEL'}, PYTHONPATH=REPO)


def _command(model_dir, steps):
  return [sys.executable, '-m', 'official.train', '--experiment=pie_mnist',
          f'--model_dir={model_dir}', f'--train_steps={steps}',
          '--batch_size=16', '--checkpoint_every=5', '--log_every=1',
          '--image_every=1000', '--model_override=conv_hidden=8',
          '--model_override=dense_hidden=16', '--model_override=steps=1']


def _start(model_dir, steps, until):
  """Starts a run; returns it once it has printed a line starting `until`."""
  process = forked.Popen(_command(model_dir, steps), env=_ENV, cwd=REPO,
                         stdout=forked.PIPE, stderr=forked.PIPE,
                         text=True)
  for line in process.stdout:
    if line.startswith(until):
      return process
  raise AssertionError(process.communicate()[1])


def test_a_second_run_is_refused_and_the_live_one_goes_on(tmp_path):
  model_dir = tmp_path / 'run'
  # More steps than the test lasts; SIGTERM ends the run once it is checked.
  live = _start(model_dir, 100_000, 'step 6/')
  holder = json.loads((model_dir / 'run.lock').read_text())
  assert holder['pid'] == live.pid and holder['host'] == socket.gethostname()
  second = forked.run(_command(model_dir, 150), env=_ENV, cwd=REPO,
                      capture_output=True, text=True, timeout=300)
  assert second.returncode == 1
  assert second.stderr.splitlines() == [
      f'error: {model_dir} is in use by a live run (host {holder["host"]}, '
      f'pid {live.pid}, since {holder["since"]}); use another --model_dir']
  # Export reads the live run's newest checkpoint meanwhile.
  export = forked.run(
      [sys.executable, '-m', 'official.export', '--experiment=pie_mnist',
       f'--model_dir={model_dir}', f'--export_dir={tmp_path / "x"}'],
      env=_ENV, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert export.returncode == 0, export.stderr
  assert live.poll() is None, live.communicate()[1]
  live.send_signal(signal.SIGTERM)
  out, err = live.communicate(timeout=300)
  assert live.returncode == 128 + signal.SIGTERM, err
  assert int(re.search(r'stopped by SIGTERM at step (\d+)', out).group(1)) > 6
  assert not (model_dir / 'run.lock').exists()


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
  model_dir = tmp_path / 'run'
  killed = _start(model_dir, 400, 'step 6/')
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  assert (model_dir / 'run.lock').exists()
  resumed = forked.run(_command(model_dir, 12), env=_ENV, cwd=REPO,
                       capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr
  assert (f'taking over the stale lock {model_dir / "run.lock"} (process '
          f'{killed.pid} no longer runs)') in resumed.stdout
  assert not (model_dir / 'run.lock').exists()


def test_another_hosts_lock_is_stale_only_without_heartbeat(tmp_path):
  path = tmp_path / 'run.lock'
  path.write_text(json.dumps({'host': 'elsewhere', 'pid': 1,
                              'since': '2026-12-01T10:00:00+00:00'}))
  with pytest.raises(run_lock.LockedError, match='host elsewhere, pid 1'):
    run_lock.RunLock(str(tmp_path)).acquire()
  old = path.stat().st_mtime - run_lock.STALE_AFTER_S - 1
  os.utime(path, (old, old))
  with run_lock.RunLock(str(tmp_path)):
    assert json.loads(path.read_text())['pid'] == os.getpid()
  assert not path.exists()

"""What the command-line programs print first: no TensorFlow start-up
noise unless asked for, one line for a missing flag, and a finished run
that is started again keeps its record."""

import os
import subprocess
import sys

import pytest

from official import errors
from official import experiments
from official import run_dir
from official.data import load_mnist
from tests import forked
from tests.helpers import REPO
from tests.helpers import train_tiny_run

_START_UP = ('oneDNN custom operations', 'cuInit', 'cpu_feature_guard',
             'absl::InitializeLog')


def _run(args, **env):
  environment = {k: v for k, v in os.environ.items()
                 if k not in ('TF_CPP_MIN_LOG_LEVEL', 'PYTHONPATH')}
  environment.update(env)
  return subprocess.run([sys.executable, '-m'] + args, cwd=REPO,
                        env=environment, capture_output=True, text=True,
                        timeout=300)


def test_missing_flag_is_one_line_without_tensorflow_noise():
  for args, flag in ((['official.export', '--experiment=pie_mnist'],
                      'model_dir'), (['official.evaluate'], 'model_dir'),
                     (['official.train'], 'model_dir')):
    done = _run(args)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f'error: --{flag} is required (--helpfull lists every flag)']
    assert done.stdout == ''


def test_tensorflow_start_up_lines_come_back_when_asked_for():
  done = _run(['official.train'], TF_CPP_MIN_LOG_LEVEL='0')
  assert done.returncode == 2
  assert any(line in done.stderr for line in _START_UP)
  assert done.stderr.splitlines()[-1].startswith('error: --model_dir')


def test_a_finished_run_started_again_keeps_its_record(tmp_path, capsys):
  train_tiny_run('pie_mnist', tmp_path, steps=1)
  with open(tmp_path / 'metrics.json') as f:
    record = f.read()
  again = train_tiny_run('pie_mnist', tmp_path, steps=1)
  assert 'already trained to step 1 of 1: nothing to do' in (
      capsys.readouterr().out)
  with open(tmp_path / 'metrics.json') as f:
    assert f.read() == record
  assert int(again.step.numpy()) == 1


def test_help_lists_the_programs_own_flags_and_exits_0():
  """Forked from a process that has imported TensorFlow (tests/forked.py):
  the tests above start fresh ones for the start-up lines."""
  for module, ours in (('official.train', '--warmup_steps'),
                       ('official.export', '--max_samples')):
    for flag in ('--help', '--helpfull'):
      done = forked.run([sys.executable, '-m', module, flag], cwd=REPO,
                        capture_output=True, text=True, timeout=300)
      assert done.returncode == 0 and done.stderr == '', done.stderr
      assert ours in done.stdout and '--experiment' in done.stdout
      # absl's full help listed every imported module's flags under the
      # module's name (absl.logging, TensorFlow's TPU and tensor tracer).
      assert 'absl.' not in done.stdout, flag


def test_an_unknown_experiment_is_one_line_naming_the_valid_ones(tmp_path):
  done = _run(['official.train', '--experiment=pie_mnits',
               f'--model_dir={tmp_path / "run"}'])
  assert done.returncode == 1
  assert done.stderr.splitlines() == [
      "error: unknown experiment 'pie_mnits'; valid names: pie, pie_mnist, "
      'revnet_aae, revnet_aae_celeba64, revnet_aae_mnist, revnet_ot, '
      'revnet_ot_mnist, revnet_ot_mnist_authors, vae_mnist, wae_mnist']
  assert not os.path.exists(tmp_path / 'run')


def test_what_a_user_can_mend_raises_a_kind_of_the_one_error_programs_catch(
    tmp_path):
  """The programs print an `errors.Error` as one line and let every other
  exception show its traceback; each check a user can trip raises a kind of
  it."""
  with pytest.raises(errors.ConfigError, match="unknown experiment 'nope'"):
    experiments.get_experiment('nope')
  with pytest.raises(errors.ConfigError, match='takes a value of type int'):
    experiments.override(experiments.get_experiment('pie_mnist'),
                         {'model.conv_hidden': 'wide'})
  with pytest.raises(errors.RunDirError, match='no training run in'):
    run_dir.read_experiment_info(None, str(tmp_path))
  with pytest.raises(errors.DataError, match='MNIST file not found'):
    load_mnist('test', data_dir=str(tmp_path))
  kinds = [errors.ConfigError, errors.DataError, errors.RunDirError,
           errors.ExportError, errors.TrainingError, errors.WriteError]
  assert all(issubclass(kind, errors.Error) for kind in kinds)
  assert not issubclass(errors.Error, ValueError)  # a bug's ValueError is not

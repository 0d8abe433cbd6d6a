"""Runs survive a damaged checkpoint: training, evaluation and export fall
back to the newest readable one and never delete a file."""

import os
import shutil
import sys

import pytest
import tensorflow as tf

import trainers
from official import export
from official import experiments
from official import models
from official import run_dir
from tests import forked
from tests.helpers import REPO
from tests.helpers import tiny_config
from tests.helpers import tiny_overrides


def _train(model_dir, steps):
  config = tiny_config('pie_mnist', {
      'trainer.batch_size': 8, 'trainer.train_steps': steps,
      'trainer.checkpoint_every': 2, 'trainer.image_every': 1000})
  trainer = trainers.Trainer(trainers.build_task(config),
                             tf.distribute.OneDeviceStrategy('/cpu:0'),
                             str(model_dir))
  trainer.run()
  return trainer


@pytest.fixture(scope='module')
def run_to_step_4(tmp_path_factory):
  """A PIE run with checkpoints at steps 0, 2 and 4."""
  model_dir = tmp_path_factory.mktemp('base') / 'run'
  _train(model_dir, 4)
  assert [os.path.basename(p) for p in run_dir.checkpoint_prefixes(
      str(model_dir / 'checkpoints'))] == ['ckpt-4', 'ckpt-2', 'ckpt-0']
  return model_dir


def _damage(checkpoints, kind):
  """Damages ckpt-4 (or adds a foreign ckpt-6); returns the damaged files'
  names and bytes."""
  if kind == 'truncated data file':
    path = checkpoints / 'ckpt-4.data-00000-of-00001'
    path.write_bytes(path.read_bytes()[:1000])
  elif kind == 'missing index file':
    os.remove(checkpoints / 'ckpt-4.index')
  else:  # a checkpoint of another experiment's model
    other = models.build_model('revnet_mnist',
                               **tiny_overrides('revnet_ot_mnist'))
    other.encode_full(tf.zeros((1, 28, 28, 1)))
    tf.train.Checkpoint(model=other, step=tf.Variable(6, dtype=tf.int64)
                        ).write(str(checkpoints / 'ckpt-6'))
  newest = 'ckpt-6' if kind.startswith('checkpoint of') else 'ckpt-4'
  return newest, {p.name: p.read_bytes() for p in checkpoints.iterdir()
                  if p.name.startswith(newest + '.')}


@pytest.mark.parametrize('kind, resumed_at', [
    ('truncated data file', 2), ('missing index file', 2),
    ('checkpoint of another experiment', 4)])
def test_training_falls_back_to_the_newest_readable_checkpoint(
    kind, resumed_at, run_to_step_4, tmp_path, capsys):
  model_dir = tmp_path / 'run'
  shutil.copytree(run_to_step_4, model_dir)
  checkpoints = model_dir / 'checkpoints'
  newest, damaged = _damage(checkpoints, kind)
  trainer = _train(model_dir, 6)
  out, err = capsys.readouterr()
  assert f'warning: checkpoint {checkpoints / newest} cannot be read' in err
  assert f'resumed from {checkpoints}/ckpt-{resumed_at} at step ' \
         f'{resumed_at}' in out
  assert int(trainer.step.numpy()) == 6
  # The damaged files are kept, byte for byte, out of the way of new saves.
  assert {name: (checkpoints / 'unreadable' / name).read_bytes()
          for name in damaged} == damaged
  assert tf.train.latest_checkpoint(str(checkpoints)).endswith('ckpt-6')
  tf.train.Checkpoint(model=trainer.model).read(
      str(checkpoints / 'ckpt-6')).assert_existing_objects_matched()


def test_evaluation_and_export_use_the_newest_readable_checkpoint(
    run_to_step_4, tmp_path, capsys):
  model_dir = tmp_path / 'run'
  shutil.copytree(run_to_step_4, model_dir)
  checkpoints = model_dir / 'checkpoints'
  expected = {w.path: w.numpy() for w in _restored_at(model_dir, 'ckpt-2')}
  _damage(checkpoints, 'truncated data file')
  model = run_dir.restore_model('pie_mnist', str(model_dir))
  assert 'checkpoint' in capsys.readouterr().err
  for weight in model.weights:
    assert (weight.numpy() == expected[weight.path]).all()
  assert os.path.exists(checkpoints / 'ckpt-4.data-00000-of-00001')
  path = export.export('pie_mnist', str(model_dir), str(tmp_path / 'export'))
  assert os.path.exists(os.path.join(path, 'saved_model.pb'))


def _restored_at(model_dir, name):
  info = run_dir.read_experiment_info('pie_mnist', str(model_dir))
  model = models.build_model(experiments.from_json(info).model)
  model.encode_full(tf.zeros((1,) + model.image_shape))
  tf.train.Checkpoint(model=model).read(
      str(model_dir / 'checkpoints' / name)).expect_partial()
  return model.weights


def test_no_readable_checkpoint_is_a_one_line_error(run_to_step_4, tmp_path):
  model_dir = tmp_path / 'run'
  shutil.copytree(run_to_step_4, model_dir)
  for path in (model_dir / 'checkpoints').glob('*.index'):
    os.remove(path)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONPATH=REPO)
  tiny = [f'--model_override={key}={value}'
          for key, value in tiny_overrides('pie_mnist').items()]
  for module, extra in (('official.train', ['--train_steps=6'] + tiny),
                        ('official.export', [f'--export_dir={tmp_path}'])):
    result = forked.run(
        [sys.executable, '-m', module, '--experiment=pie_mnist',
         f'--model_dir={model_dir}'] + extra, cwd=REPO, env=env,
        capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert f'error: no checkpoint in {model_dir}/checkpoints can be read ' \
           f'(ckpt-4: ' in result.stderr
    assert 'Traceback' not in result.stderr
  assert len(list((model_dir / 'checkpoints').glob('*.data-*'))) == 3


def test_complete_checkpoints_are_those_the_state_file_records(tmp_path):
  """A checkpoint saved to its end is recorded in the `checkpoint` state
  file; one being written (or killed half-way) is not, and readers beside a
  live run pass it over. Copied files without a state file are taken."""
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(v=tf.Variable(1.)), str(tmp_path / 'run'), 3)
  manager.save(checkpoint_number=1)
  manager.save(checkpoint_number=2)
  for name in os.listdir(tmp_path / 'run'):
    if name.startswith('ckpt-2.'):  # ckpt-3, its state not yet recorded
      shutil.copy(tmp_path / 'run' / name,
                  tmp_path / 'run' / name.replace('ckpt-2', 'ckpt-3'))
  prefixes = [str(tmp_path / 'run' / f'ckpt-{n}') for n in (3, 2, 1)]
  assert run_dir.checkpoint_prefixes(str(tmp_path / 'run')) == prefixes
  assert run_dir.complete_checkpoints(str(tmp_path / 'run')) == prefixes[1:]
  shutil.copytree(tmp_path / 'run', tmp_path / 'copied')
  os.remove(tmp_path / 'copied' / 'checkpoint')
  assert run_dir.complete_checkpoints(str(tmp_path / 'copied')) == [
      p.replace('/run/', '/copied/') for p in prefixes]

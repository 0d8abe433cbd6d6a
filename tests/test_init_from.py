"""`--init_from`: a new run starts from the weights of a run, a checkpoint or
an export; the step and the optimizers start fresh; another model config is
refused in one line that names the first difference."""

import os

import numpy as np
import pytest
import tensorflow as tf

import official
from official.run_dir import RunDirError
from tests.helpers import tiny_overrides
from tests.helpers import train_tiny_run

_DIGITS = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype(
    np.float32)


@pytest.fixture(scope='module')
def source(tiny_export):
  """A one-step tiny PIE run (ckpt-0 and ckpt-1), its model and export."""
  run, path, model = tiny_export('pie_mnist')
  return run, model, path


def _first_checkpoint_codes(model_dir):
  """Codes of the digits under the weights of a run's ckpt-0, and its
  optimizer's step count."""
  model = official.build_model('pie_mnist', **tiny_overrides('pie_mnist'))
  model.encode_full(_DIGITS)
  step = tf.Variable(-1, dtype=tf.int64)
  tf.train.Checkpoint(model=model, step=step).read(
      os.path.join(model_dir, 'checkpoints', 'ckpt-0')).expect_partial()
  return model.encode_full(_DIGITS).numpy(), int(step.numpy())


@pytest.mark.parametrize('kind', ['export', 'run', 'checkpoint'])
def test_a_new_run_starts_from_the_weights(source, kind, tmp_path):
  run, trained, exported = source
  path = {'export': exported, 'run': run,
          'checkpoint': os.path.join(run, 'checkpoints', 'ckpt-1')}[kind]
  train_tiny_run('pie_mnist', tmp_path, steps=1, init_from=path)
  codes, step = _first_checkpoint_codes(tmp_path)
  assert step == 0
  np.testing.assert_allclose(codes, trained.encode_full(_DIGITS), rtol=1e-5,
                             atol=1e-5)


def test_an_earlier_checkpoint_gives_its_own_weights(source, tmp_path):
  run, trained, _ = source
  train_tiny_run('pie_mnist', tmp_path, steps=1, init_from=os.path.join(
      run, 'checkpoints', 'ckpt-0'))
  codes, _ = _first_checkpoint_codes(tmp_path)
  assert not np.allclose(codes, trained.encode_full(_DIGITS), atol=1e-4)
  np.testing.assert_allclose(codes, _first_checkpoint_codes(run)[0],
                             rtol=1e-6, atol=1e-7)


def test_another_model_config_is_refused_by_its_first_difference(
    source, tmp_path):
  run, _, exported = source
  other = {'conv_hidden': 16, 'dense_hidden': 16, 'steps': 1}
  with pytest.raises(RunDirError, match=r"^--init_from .*: another model "
                     r"config \(conv_hidden: 8 there, 16 here\)$"):
    train_tiny_run('pie_mnist', tmp_path / 'a', init_from=run,
                   model_overrides=other)
  with pytest.raises(RunDirError, match=r'^--init_from .*: weight \d+ \(.*\) '
                     r'has shape \[.*\] there, \[.*\] in the model$'):
    train_tiny_run('pie_mnist', tmp_path / 'b', init_from=exported,
                   model_overrides=other)
  with pytest.raises(RunDirError, match='neither a training run, a '
                     'checkpoint nor an export'):
    train_tiny_run('pie_mnist', tmp_path / 'c', init_from=str(tmp_path / 'no'))


def test_adam_warm_up_raises_the_rate_linearly():
  from trainers.adam import Adam  # pylint: disable=g-import-not-at-top
  weights = tf.Variable([1., 2.])
  optimizer = Adam(0.1, warmup_steps=4)
  moved = []
  for _ in range(5):
    before = weights.numpy().copy()
    optimizer.apply_gradients([(tf.constant([0.5, -0.5]), weights)])
    moved.append(float(abs(weights.numpy() - before)[0]))
  # A constant gradient makes each Adam step lr * m_hat / sqrt(v_hat) = lr.
  np.testing.assert_allclose(moved, [0.025, 0.05, 0.075, 0.1, 0.1],
                             rtol=1e-4)
  assert optimizer.get_config()['warmup_steps'] == 4


def test_fine_tuning_the_shipped_pie_keeps_its_bits_per_dim(tmp_path):
  """The README's fine-tune command: with Adam's first steps at the full
  rate, bits/dim went from 1.66 at step 1 to 10.7 at step 2 (the warm-up
  that --init_from sets by default keeps it at 1.56-1.69 over 50 steps)."""
  import json  # pylint: disable=g-import-not-at-top
  import re  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from tests import forked  # pylint: disable=g-import-not-at-top
  from tests.helpers import REPO  # pylint: disable=g-import-not-at-top
  done = forked.run(
      [sys.executable, '-m', 'official.train', '--experiment=pie_mnist',
       f'--model_dir={tmp_path}', '--init_from=pretrained/pie_mnist/1',
       '--train_steps=12', '--log_every=1', '--image_every=1000',
       '--checkpoint_every=1000'], cwd=REPO, capture_output=True, text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONPATH=REPO))
  assert done.returncode == 0, done.stderr
  bits = [float(b) for b in re.findall(r'bits_per_dim ([\d.]+)', done.stdout)]
  assert len(bits) == 12 and max(bits) < bits[0] + 0.1, bits
  with open(tmp_path / 'experiment.json') as f:
    assert json.load(f)['config']['trainer']['warmup_steps'] == 100


def test_a_revnet_export_restores_by_outputs(tiny_export):
  """The RevNet's F and G have the same shapes: only the outputs show that
  each weight went back to its own place."""
  from official import run_dir  # pylint: disable=g-import-not-at-top
  from tests.helpers import tiny_config  # pylint: disable=g-import-not-at-top
  _, exported, trained = tiny_export('revnet_ot_mnist')
  config = tiny_config('revnet_ot_mnist').model
  model = official.build_model(config)
  fresh = model.encode_full(_DIGITS).numpy()
  run_dir.init_weights(model, config, exported)
  codes = model.encode_full(_DIGITS).numpy()
  expected = trained.encode_full(_DIGITS).numpy()
  assert not np.allclose(fresh, expected, atol=1e-3)
  np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-5)

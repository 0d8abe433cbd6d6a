"""Mixed precision: the coupling networks compute in bfloat16, the flow's
own arithmetic, its weights and its losses stay in float32."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import layers
import official
from official import experiments
from official import run_dir
from official.data import mnist
from tests.helpers import train_tiny_run


@pytest.fixture(scope='module')
def digits():
  images, _ = mnist.load_mnist('test')
  return tf.constant(images[:32, :, :, None] / 255., tf.float32)


def _trained_looking(name, network_dtype, **overrides):
  """A model whose zero-initialized outputs are moved off zero, so that
  every network changes what it couples (seeded: the same weights for
  either dtype)."""
  keras.utils.set_random_seed(3)
  model = official.build_model(name, network_dtype=network_dtype, **overrides)
  for variable in model.trainable_variables:
    variable.assign(variable + 0.01 * tf.random.stateless_normal(
        variable.shape, [4, 2]))
  return model


def _networks(model):
  return [layer for layer in model.flow_layers if isinstance(
      layer, (layers.ConvStack, layers.DenseStack, layers.ShiftAndLogScale))]


def _round_trip_errors(model, images):
  codes = model.encode_full(images)
  assert codes.dtype == tf.float32
  errors = np.abs(model.decode_full(codes).numpy() - images.numpy())
  return errors.max(), errors.mean()


def test_networks_compute_in_bfloat16_with_float32_weights():
  model = official.build_model('revnet_mnist', network_dtype='mixed_bfloat16')
  networks = _networks(model)
  assert networks and all(n.compute_dtype == 'bfloat16' for n in networks)
  assert {v.dtype for v in model.weights} <= {'float32', 'int32'}
  f = model.steps[1].f
  out = f(tf.zeros((2, 16, 16, 2)))
  assert out.dtype == tf.bfloat16
  u = model.encode_full(tf.zeros((2, 28, 28, 1)))
  assert u.dtype == tf.float32


@pytest.mark.parametrize('name, max_bound, mean_bound', [
    ('revnet_mnist', 1e-2, 1e-6), ('pie_mnist', 5e-2, 1e-4)])
def test_round_trip_within_the_documented_bounds(digits, name, max_bound,
                                                 mean_bound):
  """The networks see inputs rebuilt to float32 rounding; where bfloat16
  rounds one of them the other way, the output moves by a bfloat16 step,
  so a few pixels come back less exactly than in float32 (docs/training.md,
  --mixed_precision), while the mean stays small."""
  full_max, _ = _round_trip_errors(_trained_looking(name, None), digits)
  mixed_max, mixed_mean = _round_trip_errors(
      _trained_looking(name, 'mixed_bfloat16'), digits)
  assert full_max < 1e-4
  assert mixed_max < max_bound and mixed_mean < mean_bound
  if name == 'pie_mnist':
    assert mixed_max > full_max  # bfloat16 really ran


def test_memory_saving_gradients_under_mixed_precision(digits):
  model = _trained_looking('revnet_mnist', 'mixed_bfloat16',
                           stages=(official.models.RevNetStage(8, 1),
                                   official.models.RevNetStage(16, 1)))
  results, default = {}, model.config
  for saving in (True, False):
    model.config = dataclasses.replace(default, memory_saving=saving)
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(model.encode(digits[:8]) ** 2)
    results[saving] = tape.gradient(loss, model.trainable_variables)
  model.config = default
  checked = 0
  for saved, plain in zip(results[True], results[False]):
    if plain is None:
      continue
    assert saved.dtype == tf.float32
    error = np.linalg.norm(saved - plain) / np.linalg.norm(plain)
    assert error < 2e-2  # the networks re-run in bfloat16 on rebuilt inputs
    checked += 1
  assert checked == 16


@pytest.mark.parametrize('name', ['pie_mnist', 'revnet_ot_mnist'])
def test_mixed_precision_training_lowers_the_loss(name, tmp_path):
  trainer = train_tiny_run(name, tmp_path, steps=30, batch_size=20,
                           items={'runtime.mixed_precision': True,
                                  'trainer.log_every': 1})
  networks = _networks(trainer.model)
  assert all(n.compute_dtype == 'bfloat16' for n in networks)
  steps, losses = run_dir.read_scalars(str(tmp_path), 'train/loss')[
      'train/loss']
  assert len(steps) == 30 and np.all(np.isfinite(losses))
  assert losses[-5:].mean() < losses[:5].mean()


def test_a_float32_run_resumes_in_mixed_precision(tmp_path, capsys):
  train_tiny_run('pie_mnist', tmp_path, steps=2)
  resumed = train_tiny_run('pie_mnist', tmp_path, steps=3,
                           items={'runtime.mixed_precision': True})
  assert 'at step 2' in capsys.readouterr().out
  assert int(resumed.step.numpy()) == 3
  assert all(n.compute_dtype == 'bfloat16' for n in _networks(resumed.model))


def test_the_old_trainer_key_sets_the_runtime_field_with_a_warning():
  config = experiments.get_experiment('pie_mnist')
  with pytest.warns(DeprecationWarning, match='now runtime.mixed_precision'):
    moved = experiments.override(config, {'trainer.mixed_precision': 'True'})
  assert moved.runtime.mixed_precision is True
  recorded = experiments.to_json(config)
  recorded['trainer']['mixed_precision'] = True  # as runs recorded it before
  del recorded['runtime']['mixed_precision']
  assert experiments.from_json(
      {'config': recorded}).runtime.mixed_precision is True

"""The VAE and WAE of the PIE paper's Table 1: a non-invertible model kind
and two tasks, trained by the same loop, evaluated and exported by the same
programs."""

import numpy as np
import pytest
import tensorflow as tf

import official
from official import experiments
from official import run_dir
from official import serving
from official.data import mnist
from official.errors import ConfigError
from tests.helpers import train_tiny_run
from trainers import wae


def _digits(count=16):
  images, _ = mnist.load_mnist('test')
  return images[:count, ..., None].astype(np.float32) / 255.


def _mmd_reference(x, y, scales):
  """The unbiased MMD^2 estimate with IMQ kernels, by explicit loops."""
  n, dims = x.shape
  total = 0.
  for scale in scales:
    c = 2. * dims * scale
    kernel = lambda a, b: c / (c + np.sum((a - b) ** 2))
    within = sum(kernel(x[i], x[j]) + kernel(y[i], y[j])
                 for i in range(n) for j in range(n) if i != j)
    across = sum(kernel(x[i], y[j]) for i in range(n) for j in range(n))
    total += within / (n * (n - 1)) - 2. * across / n ** 2
  return total


def test_mmd_matches_the_explicit_sum_and_sees_a_shift():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 3))
  scales = (0.5, 1., 2.)
  assert float(wae.mmd(tf.constant(x), tf.constant(y), scales)) == (
      pytest.approx(_mmd_reference(x, y, scales), rel=1e-9))
  same = np.mean([float(wae.mmd(
      tf.constant(rng.normal(size=(50, 3))),
      tf.constant(rng.normal(size=(50, 3))), scales)) for _ in range(20)])
  shifted = float(wae.mmd(tf.constant(rng.normal(size=(50, 3)) + 1.),
                          tf.constant(rng.normal(size=(50, 3))), scales))
  assert abs(same) < 0.02 < shifted


def test_the_autoencoder_codes_decodes_and_samples_at_its_sizes():
  model = official.build_model('conv_autoencoder_mnist', filters=(8, 16),
                               latent_dims=5, variational=True)
  assert not model.is_invertible and not model.has_density
  assert model.latent_size == model.code_size == 5
  mean, log_variance = model.posterior(_digits(4))
  assert mean.shape == log_variance.shape == (4, 5)
  decoded = model.decode(model.encode(_digits(4))).numpy()
  assert decoded.shape == (4, 28, 28, 1)
  assert 0. <= decoded.min() and decoded.max() <= 1.
  np.testing.assert_array_equal(model.sample(3, seed=1), model.sample(
      3, seed=1))
  np.testing.assert_allclose(model.sample_codes(2000, seed=2).numpy().std(),
                             1., atol=0.05)
  with pytest.raises(ValueError, match=r'expected codes of shape \(N, 5\)'):
    model.decode_full(tf.zeros((2, 4)))


def test_the_autoencoder_refuses_a_size_it_cannot_halve():
  config = experiments.get_experiment('wae_mnist').model
  config = config.__class__(latent_dims=8)
  with pytest.raises(ConfigError, match='multiples of 4, got 30x28'):
    config.for_data((30, 28, 1))


@pytest.mark.parametrize('name', ['vae_mnist', 'wae_mnist'])
def test_training_lowers_the_loss_and_the_export_serves_it(name, tmp_path):
  trainer = train_tiny_run(name, tmp_path / 'run', steps=40, batch_size=20,
                           items={'trainer.log_every': 1})
  _, losses = run_dir.read_scalars(str(tmp_path / 'run'), 'train/loss')[
      'train/loss']
  assert len(losses) == 40 and np.all(np.isfinite(losses))
  assert losses[-5:].mean() < 0.8 * losses[:5].mean()
  model = trainer.model
  serving.save(model, str(tmp_path / 'export'))
  loaded = tf.saved_model.load(str(tmp_path / 'export'))
  images = _digits(4)
  np.testing.assert_allclose(loaded.encode(images)['codes'],
                             model.encode(images), atol=1e-5)
  np.testing.assert_allclose(loaded.sample(num_samples=3, seed=0)['images'],
                             model.sample(3, seed=0), atol=1e-5)

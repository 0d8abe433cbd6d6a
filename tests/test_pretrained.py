"""The trained models shipped in pretrained/: TF Serving layout, size, and the
metric docs/pretrained.md reports for each, measured again through the SavedModel on
the same 1,000 test digits that `official.evaluate --num_test=1000` used."""

import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from official import experiments
from official.data import pipelines

PRETRAINED = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'pretrained')
NAMES = ['pie_mnist', 'revnet_ot_mnist', 'revnet_aae_mnist']


def _reported(name):
  """The model's reported metrics (on 1,000 test digits)."""
  with open(os.path.join(PRETRAINED, name, 'metrics.json')) as f:
    reported = json.load(f)
  assert reported['num_test_images'] == 1000
  return reported


def _in_batches(signature, output, **inputs):
  """`signature`'s `output` for the 1,000 rows of `inputs`, in evaluate's
  batches of 500."""
  return np.concatenate([
      signature(**{k: v[i:i + 500] for k, v in inputs.items()})[output].numpy()
      for i in range(0, 1000, 500)])


@pytest.fixture(scope='module')
def test_digits():
  return pipelines.held_out(experiments.DataConfig('mnist_bundled'), 1000)


@pytest.mark.parametrize('name', NAMES)
def test_serving_layout_under_10_mb(name):
  path = os.path.join(PRETRAINED, name, '1')
  assert os.path.isfile(os.path.join(path, 'saved_model.pb'))
  assert os.path.isfile(os.path.join(path, 'variables', 'variables.index'))
  size = sum(os.path.getsize(os.path.join(root, f))
             for root, _, files in os.walk(path) for f in files)
  assert size < 10e6, f'{path}: {size / 1e6:.2f} MB'


def test_pie_bits_per_dim_on_1000_test_digits(test_digits, load_pretrained):
  reported = _reported('pie_mnist')
  signatures = load_pretrained('pie_mnist').signatures
  images, _ = test_digits
  pixels = np.round(images * 255.)
  bits = []
  for start in range(0, 1000, 500):  # evaluate's batches and noise seeds
    noise = tf.random.stateless_uniform((500, 28, 28, 1), [0, start])
    x = (pixels[start:start + 500] + noise) / 256.
    log_prob = signatures['log_prob'](images=x)['log_prob'].numpy()
    bits.append(-(log_prob - 784 * math.log(256.)) / (784 * math.log(2.)))
  measured = float(np.mean(np.concatenate(bits)))
  assert abs(measured - reported['test_bits_per_dim']) < 1e-3
  # The 10-dimensional code reconstructs the digits as reported.
  codes = signatures['encode'](images=images)['codes']
  assert codes.shape == (1000, 10)
  error = np.mean(np.abs(signatures['decode'](codes=codes)['images'] - images))
  assert abs(error - reported['reconstruction_l1_from_prior_dims']) < 1e-4


def test_ot_dimensions_per_class_on_1000_test_digits(test_digits,
                                                     load_pretrained):
  reported = _reported('revnet_ot_mnist')
  signatures = load_pretrained('revnet_ot_mnist').signatures
  images, labels = test_digits
  codes = _in_batches(signatures['encode_full'], 'codes', images=images)
  used = [int((np.std(codes[labels == c].astype(np.float64), axis=0)
               > 0.1).sum()) for c in range(10)]
  # Stds at the threshold may fall either side under another float order.
  np.testing.assert_allclose(
      used, reported['used_dims_per_class_in_codes'], atol=2)
  samples = signatures['sample_class'](
      labels=tf.constant([0, 1, 7]), seed=tf.constant(0, tf.int64))['images']
  assert samples.shape == (3, 28, 28, 1)
  assert np.all(np.isfinite(samples))


def test_aae_codes_and_reconstructions_on_1000_test_digits(test_digits,
                                                          load_pretrained):
  """The codes' match to N(0, I) and the reconstructions from the 16 prior
  dimensions that metrics.json reports, measured again through the export."""
  reported = _reported('revnet_aae_mnist')
  signatures = load_pretrained('revnet_aae_mnist').signatures
  images, _ = test_digits
  codes = _in_batches(signatures['encode'], 'codes', images=images)
  assert codes.shape == (1000, 16)
  wide = codes.astype(np.float64)
  np.testing.assert_allclose(wide.mean(axis=0), reported['prior_code_means'],
                             atol=2e-4)
  np.testing.assert_allclose(wide.std(axis=0), reported['prior_code_stds'],
                             atol=2e-4)
  again = _in_batches(signatures['decode'], 'images', codes=codes)
  error = np.mean(np.abs(again - images))
  assert abs(error - reported['reconstruction_l1_from_prior_dims']) < 1e-4
  samples = signatures['sample'](num_samples=tf.constant(8),
                                 seed=tf.constant(0, tf.int64))['images']
  assert samples.shape == (8, 28, 28, 1) and np.all(np.isfinite(samples))


def test_readme_lines_sample_encode_and_decode(load_pretrained):
  pie = load_pretrained('pie_mnist')
  digits = pie.sample(num_samples=16, seed=0)['images']
  again = pie.decode(codes=pie.encode(images=digits)['codes'])['images']
  assert digits.shape == again.shape == (16, 28, 28, 1)
  # Samples lie on the decoder's 10-dimensional manifold: encoding and
  # decoding them gives them back.
  assert float(tf.reduce_max(tf.abs(again - digits))) < 1e-3
  ot = load_pretrained('revnet_ot_mnist')
  sevens = ot.sample_class(labels=[7] * 8, seed=0)['images']
  assert sevens.shape == (8, 28, 28, 1)
  # docs/pretrained.md states the range of those 16 digits: not clipped.
  np.testing.assert_allclose([float(tf.reduce_min(digits)),
                              float(tf.reduce_max(digits))], [-0.013, 1.135],
                             atol=1e-3)


def test_shipped_pie_samples_its_density_through_the_export(load_pretrained):
  """sample_density draws the dropped parts: encoded again, they are
  N(0, temperature^2); `sample` leaves them at 0. Same z for one seed."""
  pie = load_pretrained('pie_mnist')
  for temperature in (1.0, 0.5):
    drawn = pie.sample_density(num_samples=32, seed=4,
                               temperature=temperature)['images']
    mean = pie.sample(num_samples=32, seed=4,
                      temperature=temperature)['images']
    u = pie.encode_full(images=drawn)['codes'].numpy()
    u_mean = pie.encode_full(images=mean)['codes'].numpy()
    assert abs(u[:, 10:].std() - temperature) < 0.015 * temperature
    assert abs(u[:, 10:].mean()) < 0.02
    assert np.abs(u_mean[:, 10:]).max() < 2e-3
    np.testing.assert_allclose(u[:, :10], u_mean[:, :10], atol=2e-3)


@pytest.mark.parametrize('name,run', [('pie_mnist', 'pie_eps0.01'),
                                      ('revnet_ot_mnist', 'ot_b1000')])
def test_gradients_through_a_loaded_export_equal_the_models(
    load_pretrained, name, run):
  """Through `encode_full` and `decode`: the exports keep the RevNet's
  custom gradients, so both models differentiate (a frozen layer in `fit`
  runs under a tape too)."""
  from official import run_dir  # pylint: disable=g-import-not-at-top
  model = run_dir.restore_model(name, os.path.join(PRETRAINED,
                                                   'training_runs', run))
  loaded = load_pretrained(name)
  x = tf.Variable(np.random.default_rng(0).uniform(
      size=(2, 28, 28, 1)).astype(np.float32))
  z = tf.Variable(np.random.default_rng(1).standard_normal(
      (2, model.encode(x).shape[1])).astype(np.float32))

  def gradient(function, variable):
    with tf.GradientTape() as tape:
      total = tf.reduce_sum(tf.square(function(variable)))
    return tape.gradient(total, variable)

  for ours, reference in (
      (gradient(lambda v: loaded.encode_full(images=v)['codes'], x),
       gradient(model.encode_full, x)),
      (gradient(lambda v: loaded.decode(codes=v)['images'], z),
       gradient(model.decode, z))):
    assert np.any(reference.numpy() != 0)
    np.testing.assert_allclose(ours, reference, rtol=1e-3,
                               atol=1e-4 * float(tf.reduce_max(tf.abs(
                                   reference))))
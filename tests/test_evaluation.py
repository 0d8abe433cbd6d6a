"""Sharpness, inversion error, latent usage and the evaluate command."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from official import evaluate
from official import experiments
from official import plot_runs
from official import run_dir
from official.data import load_mnist
from official.data import pipelines
from official.evaluation import fid
from official.evaluation import metrics
from tests.helpers import REPO
from tests.helpers import train_tiny_run
from trainers.maximum_likelihood import MaximumLikelihoodTask


def test_sharpness_of_mnist_matches_the_papers_true_value():
  images, _ = load_mnist('test')
  value, per_image = metrics.sharpness(images[..., None] / 255.)
  assert per_image.shape == (10000,)
  assert abs(value - 0.18) < 0.005  # PIE paper, Table 1: "True 0.18"


def test_sharpness_known_values():
  checkerboard = (np.indices((8, 8)).sum(0) % 2).astype(np.float32)
  value, _ = metrics.sharpness(checkerboard[None, ..., None])
  assert abs(value - 16.) < 1e-5  # the Laplacian is +-4 everywhere
  rgb = np.ones((2, 8, 8, 3), np.float32) * [0.2, 0.5, 0.9]
  assert metrics.sharpness(rgb)[0] < 1e-10
  # RGB is turned to luma with ITU-R BT.601's weights.
  colours = np.random.default_rng(0).uniform(size=(3, 8, 8, 3))
  luma = colours @ np.array([0.299, 0.587, 0.114])
  np.testing.assert_allclose(metrics.sharpness(colours)[1],
                             metrics.sharpness(luma[..., None])[1], rtol=1e-5)


class _ShiftedModel:
  """A stand-in autoencoder with known errors: the full round trip is off by
  0.01 at every pixel, the restricted one gives 0.25 everywhere."""
  compute_dtype = 'float32'

  def encode_full(self, x):
    return tf.reshape(x, (len(x), -1))

  def decode_full(self, u):
    return tf.reshape(u, (len(u), 4, 4, 1)) + 0.01

  def restrict(self, u):
    return u[:, :2]

  def decode(self, z):
    return tf.fill((len(z), 4, 4, 1), 0.25)


def test_round_trip_errors_are_means_and_max_over_every_batch():
  images = np.random.default_rng(0).uniform(size=(7, 4, 4, 1)).astype(
      np.float32)
  images[5, 2, 3, 0] = 0.995  # the largest pixel
  errors, reconstructions = metrics.round_trip(_ShiftedModel(), images,
                                               batch_size=3)
  assert errors['inversion_l1_mean'] == pytest.approx(0.01, rel=1e-4)
  assert errors['inversion_l1_max'] == pytest.approx(0.01, rel=1e-3)
  assert errors['reconstruction_l1_from_prior_dims'] == pytest.approx(
      np.abs(images - 0.25).mean(), rel=1e-5)
  assert reconstructions.shape == images.shape
  np.testing.assert_array_equal(reconstructions, 0.25)


def test_code_usage_counts_dims_where_a_class_spreads():
  rng = np.random.default_rng(0)
  codes = rng.standard_normal((400, 3)) * [1., 0.01, 0.5]
  labels = np.repeat([0, 1], 200)
  codes[labels == 1, 0] = 3.  # class 1 does not vary along dimension 0
  assert metrics.code_usage(codes, labels, 0.1) == {
      'used_dims_per_class_in_codes': [2, 1]}
  # A std exactly at the threshold does not count.
  halves = np.tile([[0.], [1.]], (10, 1))  # std 0.5
  assert metrics.code_usage(halves, np.zeros(20), 0.5) == {
      'used_dims_per_class_in_codes': [0]}


def test_latent_usage_counts_dims_above_threshold():
  stds = np.array([[0.5, 0.05, 0.2, 0.0, 0.0],
                   [0.01, 0.1, 0.3, 0.15, 0.0],  # 0.1: at the threshold
                   [0.3, 0.0, 0.0, 0.11, 0.0],
                   [0.0, 0.0, 0.5, 0.0, 0.0]])
  usage = metrics.latent_usage(stds, 0.1)
  assert usage['used_dims_per_class'] == [2, 2, 2, 1]
  assert usage['used_dims_any_class'] == 3  # dimensions 0, 2 and 3
  # Dimensions 0, 2 and 3 are each used by two or three classes, none by
  # all four (a "used by every class" count would give 0).
  assert usage['used_dims_shared'] == 3
  assert metrics.latent_usage(stds, 0.25)['used_dims_shared'] == 2
  assert metrics.latent_usage(stds, 0.35)['used_dims_shared'] == 0


def test_visible_dims_reads_the_decoded_change_along_the_top_dims():
  """With the identity as decoder, moving dimension d by +-2 std changes
  one of the D pixels by 4 std: a mean change of 4 s / D."""
  dims = 8
  stds = np.zeros((3, dims))
  stds[0, [5, 1, 2]] = [0.4, 0.2, 0.05]
  stds[1, [5, 3]] = [0.3, 0.11]
  stds[2, [1, 6, 3]] = [0.3, 0.25, 0.09]
  means = np.random.default_rng(0).standard_normal((3, dims))
  found = metrics.visible_dims(lambda codes: codes, means, stds, top=4,
                               threshold=0.05)
  # Class-averaged stds: dim 5 0.233, dim 1 0.167, dim 6 0.083, dim 3 0.067.
  assert found['visible_dims_top'] == [5, 1, 6, 3]
  np.testing.assert_allclose(found['visible_dims_change_per_class'],
                             4. * stds[:, [5, 1, 6, 3]] / dims, atol=1e-4)
  # A change of 4 s / 8 >= 0.05 needs s >= 0.1.
  assert found['visible_dims_per_class'] == [2, 2, 2]
  assert found['visible_dims_median'] == 2.
  assert found['visible_dims_shared'] == 2  # dims 5 and 1, two classes each
  assert found['largest_stds_per_class'][2][:3] == [0.3, 0.25, 0.09]


def test_prior_match_reports_each_dimensions_mean_and_std():
  codes = np.random.default_rng(0).standard_normal((4000, 3)) * [1., 2., .5]
  codes[:, 1] += 0.3
  found = metrics.prior_match(codes)
  np.testing.assert_allclose(found['prior_code_means'], [0., 0.3, 0.],
                             atol=0.05)
  np.testing.assert_allclose(found['prior_code_stds'], [1., 2., .5],
                             rtol=0.05)
  assert found['prior_code_mean_abs_max'] == pytest.approx(
      abs(codes[:, 1].mean()))
  assert found['prior_code_std_min'] == pytest.approx(codes[:, 2].std())
  assert found['prior_code_std_max'] == pytest.approx(codes[:, 1].std())


def test_visible_dims_defaults_and_the_threshold_itself():
  """Defaults: the top 4 dimensions, a change of 0.05, 8 stds per class.
  With zero means and the identity decoder over 16 pixels, a std s changes
  the image by s / 4 (exact in float32 for these values)."""
  stds = np.zeros((2, 16))
  stds[0, [3, 7]] = [0.25, 0.125]
  stds[1, [3, 9]] = [0.5, 0.5]
  found = metrics.visible_dims(lambda codes: codes, np.zeros((2, 16)), stds)
  assert found['visible_dims_top'] == [3, 9, 7, 0]
  # 0.0625 and 0.125 count at 0.05; 0.03125 does not.
  assert found['visible_dims_per_class'] == [1, 2]
  assert found['visible_dims_shared'] == 1
  assert [len(s) for s in found['largest_stds_per_class']] == [8, 8]
  exact = metrics.visible_dims(lambda codes: codes, np.zeros((2, 16)), stds,
                               threshold=0.0625)
  assert exact['visible_dims_per_class'] == [1, 2]  # 0.0625 >= 0.0625
  assert exact['visible_dims_change_per_class'][0][0] == 0.0625


@pytest.fixture(scope='module', params=['pie_mnist', 'revnet_ot_mnist'])
def trained_run(request, tmp_path_factory):
  name = request.param
  model_dir = tmp_path_factory.mktemp(name)
  trainer = train_tiny_run(name, model_dir, steps=2, batch_size=40)
  return name, str(model_dir), trainer.model


def test_evaluate_writes_metrics_and_figures(trained_run, capsys):
  name, model_dir, model = trained_run
  results = evaluate.evaluate(name, model_dir, num_samples=24, num_test=40,
                              temperature=0.25)
  assert {k: results[k] for k in ('split', 'num_test_images', 'num_samples',
                                  'sample_temperature', 'seed')} == {
      'split': 'test', 'num_test_images': 40, 'num_samples': 24,
      'sample_temperature': 0.25, 'seed': 0}
  progress = capsys.readouterr().err
  assert 'sampling: 24/24 images' in progress and 'figures' in progress
  with open(os.path.join(model_dir, 'eval', 'metrics.json')) as f:
    assert json.load(f)['sharpness_samples'] == results['sharpness_samples']
  assert results['inversion_l1_max'] < 1e-4
  assert 0.1 < results['sharpness_test_images'] < 0.3
  expected = ['reconstructions.png', 'interpolations_restricted.png',
              'interpolations_full.png', 'traversals.png']
  if name == 'pie_mnist':
    expected += ['samples_std1.png', 'samples_std0.5.png',
                 'density_samples_std1.png', 'density_samples_std0.5.png']
    assert results['test_bits_per_dim'] > 0.
    # Drawn in batches of 500 with seed + start: one batch here.
    assert results['sharpness_density_samples'] == pytest.approx(
        metrics.sharpness(model.sample(24, seed=0, temperature=0.25,
                                       density=True))[0], rel=1e-5)
    assert results['sharpness_samples'] == pytest.approx(
        metrics.sharpness(model.sample(24, seed=0, temperature=0.25))[0],
        rel=1e-5)
    data = experiments.from_json(run_dir.read_experiment_info(
        name, model_dir)).data
    images, _ = pipelines.held_out(data, 40, 0)
    assert results['prior_code_stds'] == metrics.prior_match(
        model.encode(images))['prior_code_stds']
  else:
    expected += ['class_samples.png', 'used_dims_over_training.png',
                 'visible_dims_over_training.png']
    data = experiments.from_json(run_dir.read_experiment_info(
        name, model_dir)).data
    images, labels = pipelines.held_out(data, 40, 0)
    assert results['used_dims_per_class_in_codes'] == metrics.code_usage(
        model.encode_full(images), labels, 0.1)['used_dims_per_class_in_codes']
    assert len(results['used_dims_per_class_in_codes']) == len(set(labels))
    stds = model.class_stds.numpy()
    assert results['used_dims_per_class'] == metrics.latent_usage(
        stds, 0.1)['used_dims_per_class']
    assert results['visible_dims_per_class'] == metrics.visible_dims(
        model.decode_full, model.class_means.numpy(),
        stds)['visible_dims_per_class']
  for figure in expected:
    assert os.path.getsize(os.path.join(model_dir, 'eval', figure)) > 100
  x = np.random.default_rng(0).uniform(size=(8, 28, 28, 1)).astype(np.float32)
  direct, reconstructions = metrics.round_trip(model, x, batch_size=5)
  assert reconstructions.shape == x.shape  # from two batches
  assert direct['inversion_l1_mean'] <= direct['inversion_l1_max'] < 1e-4
  np.testing.assert_allclose(reconstructions, model.decode(model.encode(x)),
                             atol=1e-6)
  np.testing.assert_allclose(
      direct['reconstruction_l1_from_prior_dims'],
      np.abs(model.decode(model.encode(x)).numpy() - x).mean(), rtol=1e-5,
      atol=1e-7)  # the OT RevNet keeps every dim: float noise only


def test_plot_runs_reads_each_runs_scalar_and_names_a_missing_one(
    trained_run, tmp_path):
  _, model_dir, _ = trained_run
  with open(os.path.join(model_dir, 'metrics.json')) as f:
    final_loss = json.load(f)['final_losses']['loss']
  steps, values = run_dir.read_scalars(model_dir, 'train/loss')['train/loss']
  assert steps[-1] == 2 and np.isclose(values[-1], final_loss)
  path = plot_runs.plot_runs([model_dir, model_dir + '/'], 'train/loss',
                             str(tmp_path / 'loss.png'))
  from PIL import Image  # pylint: disable=g-import-not-at-top
  plain = np.asarray(Image.open(path))
  assert plain.shape[:2] == (420, 720)
  with_line = np.asarray(Image.open(plot_runs.plot_runs(
      [model_dir, model_dir + '/'], 'train/loss', str(tmp_path / 'ref.png'),
      [('data', float(values.max()) / 2)])))
  assert (with_line != plain).any()  # the line and its legend entry
  capped = np.asarray(Image.open(plot_runs.plot_runs(
      [model_dir], 'train/loss', str(tmp_path / 'capped.png'),
      y_max=float(values.max()) / 2)))
  assert (capped != plain).any()  # another axis
  assert plot_runs._reference('data=0.18') == ('data', 0.18)
  with pytest.raises(ValueError, match='use LABEL=VALUE'):
    plot_runs._reference('0.18')
  with pytest.raises(ValueError, match="no scalar 'train/nope' in"):
    plot_runs.plot_runs([model_dir], 'train/nope', str(tmp_path / 'x.png'))


@pytest.fixture(scope='module')
def random_inception(tmp_path_factory):
  """A network of Inception 2015-12-05's shapes with random weights (He
  init, unit batch-norm variances): the FID path without downloaded
  weights. Returns its npz path and its weights."""
  with open(os.path.join(REPO, 'tests', 'files',
                         'inception_shapes.json')) as f:
    shapes = json.load(f)
  rng = np.random.default_rng(0)
  weights = {}
  for key, shape in shapes.items():
    if key.endswith('.weight'):
      fan_in = np.prod(shape[1:])
      weights[key] = (rng.standard_normal(shape) *
                      np.sqrt(2. / fan_in)).astype(np.float32)
    else:  # beta and mean 0, var 1
      weights[key] = np.full(shape, float(key.endswith('.var')), np.float32)
  path = tmp_path_factory.mktemp('inception') / 'random_inception.npz'
  np.savez(path, **weights)
  return str(path), weights


def test_evaluate_fid_equals_an_independent_computation(trained_run,
                                                        random_inception):
  """The samples and held-out images evaluate uses, through the same
  network; the distance from the centred features A, B themselves:
  Tr sqrtm(S_a S_b) is the nuclear norm of A B^T / sqrt((n_a-1)(n_b-1))."""
  name, model_dir, model = trained_run
  path, weights = random_inception
  # Few images: the network takes about 0.13 s for each.
  results = evaluate.evaluate(name, model_dir, num_samples=8, num_test=10,
                              inception=path, seed=3)
  assert os.path.exists(os.path.join(
      model_dir, 'eval', 'fid_stats_mnist_bundled_28x28x1_test_10.npz'))
  data = experiments.from_json(run_dir.read_experiment_info(
      name, model_dir)).data
  images, _ = pipelines.held_out(data, 10, 3)
  samples = model.sample(8, seed=3)
  extractor = fid.InceptionExtractor(weights)
  a = np.asarray(extractor(np.asarray(samples) * 255.), np.float64)
  b = np.asarray(extractor(images * 255.), np.float64)
  assert a.std(axis=0).max() > 1e-3 and b.std(axis=0).max() > 1e-3
  centred_a, centred_b = a - a.mean(axis=0), b - b.mean(axis=0)
  scale_a, scale_b = len(a) - 1., len(b) - 1.
  trace_root = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False).sum()
  expected = (np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2) +
              np.sum(centred_a ** 2) / scale_a +
              np.sum(centred_b ** 2) / scale_b -
              2. * trace_root / np.sqrt(scale_a * scale_b))
  assert results['fid'] == pytest.approx(expected, rel=1e-4)


def test_quick_check_record_and_the_temperatures_scaling(
    trained_run):
  name, model_dir, model = trained_run
  # Training's own quick check carries another name and its image count.
  with open(os.path.join(model_dir, 'metrics.json')) as f:
    record = json.load(f)
  assert record['final_evaluation']['num_test_images'] == 500
  assert 'inversion_l1_max' not in record
  # The temperature scales the prior's spread around its mean (PIE: 0).
  means = 0. if name == 'pie_mnist' else np.asarray(model.class_means)[
      np.arange(64) % 10]
  np.testing.assert_allclose(
      model.sample_codes(64, seed=3, temperature=0.25) - means,
      0.25 * (model.sample_codes(64, seed=3) - means), atol=1e-5)


def test_plateau_is_where_no_class_loses_a_dimension_over_the_window():
  steps = list(range(0, 200, 10))
  falling = [max(100 - s, 20) for s in steps]   # flat from step 80
  later = [max(60 - s // 2, 10) for s in steps]  # flat from step 100
  found = metrics.plateau({0: (steps, falling), 1: (steps, later)}, 50)
  assert found['plateau_step'] == 100
  assert found['used_dims_per_class_at_plateau'] == [20, 10]
  assert found['last_logged_step'] == 190
  still = metrics.plateau({0: (steps, [200 - s for s in steps])}, 50)
  assert still['plateau_step'] is None
  # A rise is no loss: a class may take a dimension back.
  wobble = [50, 50, 51, 50, 50, 50, 50, 50]
  assert metrics.plateau({0: (steps[:8], wobble)}, 30)['plateau_step'] == 0
  # The window ends at the last logged step, and includes it: a loss at
  # its last step counts.
  exact = metrics.plateau({0: ([0, 10, 20, 30], [9, 8, 8, 8])}, 20)
  assert exact['plateau_step'] == 10
  late_loss = metrics.plateau({0: ([0, 10, 20, 30], [9, 8, 8, 7])}, 20)
  assert late_loss['plateau_step'] is None


def test_the_adversarial_quick_check_logs_the_prior_match_and_the_critic(
    tmp_path):
  trainer = train_tiny_run('revnet_aae_mnist', tmp_path, steps=2,
                           image_every=1, items={
                               'task.reconstruction_steps': 1,
                               'task.init_batches': 1})
  curves = run_dir.read_scalars(str(tmp_path), 'eval/')
  for tag in ('prior_code_mean_abs_max', 'prior_code_std_min',
              'prior_code_std_max', 'critic_mean_on_codes',
              'critic_mean_on_prior'):
    assert list(curves[f'eval/{tag}'][0]) == [1, 2], tag
  with open(tmp_path / 'metrics.json') as f:
    final = json.load(f)['final_evaluation']
  data = experiments.from_json(run_dir.read_experiment_info(
      'revnet_aae_mnist', str(tmp_path))).data
  images, _ = pipelines.held_out(data, 500)
  codes = trainer.model.encode(images)
  assert codes.shape == (500, trainer.model.config.num_prior_dims)
  expected = metrics.prior_match(codes)
  np.testing.assert_allclose(final['prior_code_stds'],
                             expected['prior_code_stds'], atol=1e-4)
  np.testing.assert_allclose(final['critic_mean_on_codes'], float(
      np.mean(trainer.task.critic(codes, training=False))), rtol=1e-5)
  assert final['critic_mean_on_codes'] != final['critic_mean_on_prior']


def test_training_logs_the_quick_check_as_curves(tmp_path, monkeypatch):
  checked_at = []
  evaluate_task = MaximumLikelihoodTask.evaluate

  def counted(task, model, images, labels):
    checked_at.append(len(images))
    return evaluate_task(task, model, images, labels)

  monkeypatch.setattr(MaximumLikelihoodTask, 'evaluate', counted)
  trainer = train_tiny_run('pie_mnist', tmp_path, steps=2, image_every=1)
  curves = run_dir.read_scalars(str(tmp_path), 'eval/')
  for tag in ('eval/sharpness_samples', 'eval/test_bits_per_dim',
              'eval/reconstruction_l1_from_prior_dims'):
    steps, values = curves[tag]
    assert list(steps) == [1, 2] and np.all(np.isfinite(values)), tag
  with open(tmp_path / 'metrics.json') as f:
    final = json.load(f)['final_evaluation']
  # The last step's periodic outputs are the final ones, computed once: one
  # quick check per step, the curves end at the final check's values, and
  # that step's grid is samples.png.
  assert checked_at == [500, 500]
  for key in ('test_bits_per_dim', 'reconstruction_l1_from_prior_dims',
              'inversion_l1_max'):
    assert curves[f'eval/{key}'][1][-1] == np.float32(final[key]), key
  assert (tmp_path / 'samples' / 'step_0000002.png').read_bytes() == (
      tmp_path / 'samples.png').read_bytes()
  assert int(trainer.step.numpy()) == 2

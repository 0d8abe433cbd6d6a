"""The OT recipe of the authors' notebook: balanced batches, plan threshold,
cost clamp, initialization from 10,000 digits, and its TensorBoard view."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

import trainers
from official import experiments
from official.evaluation import metrics
from official.data import batching
from official.data import pipelines
from tests.helpers import tiny_config
from tests.helpers import train_tiny_run
from trainers import optimal_transport


def _labels(dataset_fn, context=None, count=1):
  return [labels.numpy() for _, labels in dataset_fn(context).take(count)]


def test_balanced_batches_hold_each_class_equally_resume_and_split():
  spec = experiments.DataConfig('mnist_bundled')
  fn = pipelines.make_dataset_fn(spec, 3, 50, balanced=True)
  batches = _labels(fn, count=4)
  for labels in batches:
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 5))
  images = [i.numpy() for i, _ in fn(None).take(4)]
  resumed = pipelines.make_dataset_fn(spec, 3, 50, start_step=3, balanced=True)
  np.testing.assert_array_equal(next(iter(resumed(None)))[0], images[3])
  halves = [i.numpy() for i, _ in fn(tf.distribute.InputContext(
      num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2)
                                     ).take(2)]
  np.testing.assert_array_equal(np.concatenate(halves), images[0])
  with pytest.raises(ValueError, match='batch_size 64 is not a multiple of '
                     'the 10 classes'):
    pipelines.make_dataset_fn(spec, 0, 64, balanced=True)
  with pytest.raises(ValueError, match='need class labels, which '
                     'celeb_a_files does not have'):
    pipelines.make_dataset_fn(experiments.DataConfig('celeb_a_files', '/tmp'),
                              0, 10, balanced=True)


def test_each_class_is_shuffled_once_per_epoch_of_its_own():
  labels = np.array([0] * 7 + [1] * 3)
  order = batching._balanced_order(labels, seed=5, global_batch=4)  # pylint: disable=protected-access
  steps = np.stack([order(tf.constant(s, tf.int64)).numpy()
                    for s in range(7)])  # 14 draws per class
  zeros, ones = steps[:, :2].ravel(), steps[:, 2:].ravel()
  assert sorted(zeros[:7]) == sorted(zeros[7:]) == list(range(7))
  assert sorted(ones[:3]) == sorted(ones[3:6]) == list(range(7, 10))
  assert list(zeros[:7]) != list(zeros[7:])  # a new permutation each epoch


def test_plan_couples_within_classes_and_the_cost_has_a_finite_gradient():
  rng = np.random.default_rng(0)
  codes = rng.normal(size=(12, 5)).astype(np.float32)
  samples = rng.normal(size=(12, 5)).astype(np.float32)
  labels = np.array([0] * 8 + [1] * 4)
  plan = optimal_transport.transport_plan(codes, samples, labels)
  assert np.all(plan[:8, 8:] == 0) and np.all(plan[8:, :8] == 0)
  np.testing.assert_allclose(plan.sum(axis=1), [1 / 16] * 8 + [1 / 8] * 4,
                             rtol=1e-6)
  # Entries of a class's plan (before the division by the 2 classes) are
  # either 0 or above 1 / n_c^2.
  for block, n in ((plan[:8, :8], 8), (plan[8:, 8:], 4)):
    assert block[block > 0].min() * 2 > 1 / n**2
  a = tf.constant(codes)
  with tf.GradientTape() as tape:
    tape.watch(a)
    cost = optimal_transport._euclidean(a, a)  # pylint: disable=protected-access
    total = tf.reduce_sum(cost)
  np.testing.assert_allclose(np.diag(cost.numpy()), 1e-3, rtol=1e-3)
  assert np.all(np.isfinite(tape.gradient(total, a).numpy()))


def test_gaussians_start_from_the_codes_of_init_examples_digits():
  config = tiny_config('revnet_ot_mnist', {'task.init_examples': 25})
  task = trainers.build_task(config)
  model = task.build_model()
  dataset = pipelines.make_dataset_fn(experiments.DataConfig('mnist_bundled'),
                                      1, 10)(None)
  task.initialize(model, dataset)
  images, labels = (np.concatenate(t) for t in zip(*[
      (i.numpy(), l.numpy()) for i, l in dataset.take(3)]))
  codes = model.encode_full(images[:25]).numpy()
  for c in range(10):
    mine = codes[labels[:25] == c]
    expected = mine if len(mine) else codes
    np.testing.assert_allclose(model.class_means.numpy()[c],
                               expected.mean(axis=0), rtol=1e-4, atol=1e-5)


def test_tensorboard_shows_the_used_dimensions_per_class(tmp_path):
  """The values logged at the last step are those of the trained model."""
  trainer = train_tiny_run('revnet_ot_mnist', tmp_path, steps=2)
  model = trainer.model
  logged = {}
  for path in glob.glob(str(tmp_path / 'train' / 'events.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if event.step == 2 and value.HasField('tensor'):
          logged[value.tag] = tf.make_ndarray(value.tensor)
  stds = model.class_stds.numpy()
  assert np.abs(model.class_means.numpy()).mean() > 0.01  # set from codes
  usage = metrics.latent_usage(stds, 0.1)
  visible = metrics.visible_dims(model.decode_full,
                                 model.class_means.numpy(), stds)
  for c in range(10):
    assert logged[f'used_dims/class_{c}'] == usage['used_dims_per_class'][c]
    assert (logged[f'visible_dims/class_{c}'] ==
            visible['visible_dims_per_class'][c])
    np.testing.assert_allclose(logged[f'largest_std/class_{c}'],
                               stds[c].max(), atol=1e-4)
    np.testing.assert_allclose(logged[f'class_stds/class_{c}'][:, 2].sum(),
                               stds.shape[1])  # histogram counts every dim
  assert logged['used_dims/any_class'] == usage['used_dims_any_class']
  assert (logged['used_dims/shared_by_classes'] ==
          usage['used_dims_shared'])
  assert logged['visible_dims/median'] == visible['visible_dims_median']
  assert 'train/transport' in logged


def test_a_batch_that_is_not_a_multiple_of_the_classes_is_refused_first(
    tmp_path):
  """Before the 10,000-image initialization and its checkpoint: a refused run
  leaves nothing behind."""
  with pytest.raises(ValueError, match='batch_size 25 is not a multiple of '
                     'the 10 classes'):
    train_tiny_run('revnet_ot_mnist', tmp_path / 'run', batch_size=25)
  assert not os.path.exists(tmp_path / 'run')


def test_euclidean_costs_equal_the_pairwise_distances():
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(6, 4)), rng.normal(size=(5, 4))
  expected = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
  np.testing.assert_allclose(
      optimal_transport._euclidean(tf.constant(a), tf.constant(b)),  # pylint: disable=protected-access
      expected, rtol=1e-6)


def test_plans_of_three_classes_stay_within_each_class():
  rng = np.random.default_rng(2)
  codes, samples = rng.normal(size=(2, 9, 3))
  labels = np.repeat([0, 1, 2], 3)
  plan = optimal_transport.transport_plan(codes, samples, labels)
  same = labels[:, None] == labels[None, :]
  assert np.all(plan[~same] == 0)
  np.testing.assert_allclose(plan.sum(axis=1), 1 / 9)  # 1/3 per class, /3


def test_one_step_loss_is_the_transport_cost_plus_the_weighted_perturbation():
  """The losses of one train step, recomputed from the same codes, noise and
  class Gaussians: the Euclidean costs weighted by the per-class plans,
  plus 15 x the mean over the batch of the mean (MSE + L1) of the images
  decoded from codes moved by N(0, 0.01^2)."""
  # Three digits per class: with two, each class's codes are their mean
  # +- their std, and drawing -noise for +noise would cost the same.
  config = tiny_config('revnet_ot_mnist', {'trainer.batch_size': 30,
                                           'task.init_examples': 30})
  task = trainers.build_task(config)
  model = task.build_model()
  dataset = pipelines.make_dataset_fn(config.data, 0, 30, balanced=True)(None)
  task.initialize(model, dataset)
  assert np.abs(model.class_means.numpy()).mean() > 0.01  # from the codes
  images, labels = next(iter(dataset))
  step = tf.constant(3, tf.int64)
  size = model.code_size
  codes = model.encode_full(images).numpy().astype(np.float64)
  means = model.class_means.numpy()[labels.numpy()]
  stds = model.class_stds.numpy()[labels.numpy()]
  samples = means + stds * task.noise(0, (30, size), step).numpy()
  plan = optimal_transport.transport_plan(codes, samples, labels.numpy())
  distances = np.sqrt(np.maximum(
      ((codes[:, None] - samples[None]) ** 2).sum(-1), 1e-6))
  moved = codes + 0.01 * task.noise(1, (30, size), step).numpy()
  error = images.numpy() - model.decode_full(moved.astype(np.float32)).numpy()
  perturbation = 15. * np.mean((error ** 2 + np.abs(error)).mean(
      axis=(1, 2, 3)))
  losses, _ = task.train_step(model, task.build_optimizers(model, {}),
                              (images, labels), step, 'train')
  np.testing.assert_allclose(losses['transport'], (plan * distances).sum(),
                             rtol=1e-4)
  np.testing.assert_allclose(losses['perturbation'], perturbation, rtol=1e-4)
  np.testing.assert_allclose(losses['loss'], losses['transport'] +
                             losses['perturbation'], rtol=1e-6)
  model.class_stds.assign(-tf.ones_like(model.class_stds))
  task.after_step(model)
  assert not model.class_stds.numpy().any()  # clamped at 0

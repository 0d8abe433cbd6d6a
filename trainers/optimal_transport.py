"""Adversary-free RevNet training: per-class exact optimal transport to
learnable Gaussians plus a perturbation loss (RevNet paper, Sec. 3.2)."""

import dataclasses

import numpy as np
import tensorflow as tf

from official import configs
from official import models
from official.evaluation import metrics
from trainers.task import Task


# The authors' notebook (notebooks/mnist/OptimalTransport.ipynb, cell 9)
# takes the Euclidean cost as sqrt(max(d^2, 1e-6)).
_MIN_SQUARED_DISTANCE = 1e-6


def transport_plan(codes, samples, labels):
  """Per-class exact OT plans between `codes` and `samples` (numpy).

  Row i of the result couples code i with the samples of its own class:
  for each class c with n_c codes, `ot.emd` on the Euclidean costs with
  uniform weights 1/n_c, so each class's plan sums to 1. As in the authors'
  notebook (cell 9), entries not above 1 / n_c^2 are set to 0: the LP solver
  leaves tiny spurious ones. The plan is then divided by the number of
  classes present, making sum(P * C) the mean over classes of their
  transport costs.
  """
  # Imported here: POT pulls in scipy.stats (0.3 s), which only OT runs use.
  import ot  # pylint: disable=g-import-not-at-top
  plan = np.zeros((len(codes), len(samples)), np.float64)
  classes = np.unique(labels)
  for c in classes:
    rows = np.flatnonzero(labels == c)
    cost = np.sqrt(np.maximum(ot.dist(
        codes[rows].astype(np.float64), samples[rows].astype(np.float64),
        metric='sqeuclidean'), _MIN_SQUARED_DISTANCE))
    weights = np.full(len(rows), 1. / len(rows))
    block = ot.emd(weights, weights, cost)
    plan[np.ix_(rows, rows)] = block * (block > 1. / cost.size)
  return (plan / len(classes)).astype(codes.dtype)


def _euclidean(a, b):
  squared = (tf.reduce_sum(a * a, -1)[:, None] - 2. * tf.matmul(
      a, b, transpose_b=True) + tf.reduce_sum(b * b, -1)[None, :])
  return tf.sqrt(tf.maximum(squared, _MIN_SQUARED_DISTANCE))


@dataclasses.dataclass(frozen=True)
class OptimalTransportConfig:
  """The adversary-free MNIST recipe (RevNet paper, Sec. 3.2) as the authors'
  notebook `notebooks/mnist/OptimalTransport.ipynb` runs it: class Gaussians
  from the untrained net's codes of 10,000 digits (cell 6), batches of 650
  digits of every class (cell 7, `BalancedBatchSizeIterator(650)`, one
  optimizer step after all classes: cell 10), perturbation loss weighted 15
  (cell 10)."""
  perturbation_std: float = 0.01
  perturbation_weight: float = 15.
  init_examples: int = 10_000
  balanced_batches: bool = True
  used_dim_threshold: float = 0.1
  # `metrics.visible_dims`: the dimensions of the largest class-averaged
  # std that change a decoded class mean visibly.
  visible_dims_top: int = 4
  visible_change_threshold: float = 0.05

  needs_labels = True


@configs.register_task(OptimalTransportConfig)
class OptimalTransportTask(Task):
  """Trains the RevNet, the class means and the class stds on

  ```none
  sum(P * C) + w * [MSE + L1](x, R^-1(R(x) + e)),   e ~ N(0, sigma^2 I)
  ```

  where P is the per-class exact OT plan between the batch's codes R(x) and
  as many draws from the class Gaussians, and C their Euclidean distances.
  The plan is computed on the whole global batch, so any number of replicas
  gives the same step.
  """

  # The plans come from POT through tf.numpy_function, which XLA cannot
  # compile.
  supports_jit = False
  initializes = True

  @property
  def balanced_batches(self):
    return self.task_config.balanced_batches

  def initialize(self, model, dataset):
    """Class Gaussians from the untrained net's codes of `init_examples`
    training digits (paper, Sec. 3.2; the notebook's cell 6 uses 10,000)."""
    codes, labels, count = [], [], 0
    for images, batch_labels in dataset:
      take = min(len(images), self.task_config.init_examples - count)
      codes.append(model.encode_full(images[:take]))
      labels.append(batch_labels[:take])
      count += take
      if count == self.task_config.init_examples:
        break
    model.set_class_gaussians_from_codes(np.concatenate(codes),
                                         np.concatenate(labels))

  def train_step(self, model, optimizers, batch, step, phase):
    images, labels = batch
    context = tf.distribute.get_replica_context()
    global_batch = self.train.batch_size
    size = model.code_size
    noise = self.noise(0, (global_batch, size), step)
    perturbation = self.local_rows(self.noise(1, (global_batch, size), step))
    all_labels = context.all_gather(labels, axis=0)
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
      codes = model.encode_full(images)
      samples = (tf.gather(model.class_means, all_labels) +
                 tf.gather(model.class_stds, all_labels) * noise)
      all_codes = context.all_gather(tf.stop_gradient(codes), axis=0)
      plan = tf.numpy_function(
          transport_plan,
          [all_codes, tf.stop_gradient(samples), all_labels], codes.dtype)
      plan = tf.ensure_shape(self.local_rows(plan), [None, global_batch])
      transport = tf.reduce_sum(plan * _euclidean(codes, samples))
      perturbed = model.decode_full(
          codes + self.task_config.perturbation_std * perturbation)
      error = images - perturbed
      per_example = tf.reduce_mean(error ** 2 + tf.abs(error), axis=[1, 2, 3])
      perturbation_loss = self.task_config.perturbation_weight * tf.reduce_sum(
          per_example) / global_batch
      loss = transport + perturbation_loss
    norm = self.apply_gradients(optimizers['optimizer'], tape, loss, variables)
    return ({'loss': loss, 'transport': transport,
             'perturbation': perturbation_loss}, {'grad_norm': norm})

  def after_step(self, model):
    model.class_stds.assign(tf.maximum(model.class_stds, 0.))

  def latent_usage(self, model):
    """The dimensions each class uses: by its learned std
    (`metrics.latent_usage`) and by the change it makes to the decoded class
    mean (`metrics.visible_dims`), with the config's thresholds."""
    config = self.task_config
    stds = model.class_stds.numpy()
    return {**metrics.latent_usage(stds, config.used_dim_threshold),
            **metrics.visible_dims(model.decode_full, model.class_means.numpy(),
                                   stds, config.visible_dims_top,
                                   config.visible_change_threshold)}

  def latent_metrics(self, model, labels, encode_test_images):
    """The dimensions each class uses, by its learned std and by its codes
    of the held-out images (`metrics.code_usage`)."""
    codes = encode_test_images(model.encode_full)
    return {**self.latent_usage(model),
            **metrics.code_usage(codes, labels,
                                 self.task_config.used_dim_threshold)}

  def write_summaries(self, model):
    """The latent space as it shrinks: per class, the dimensions in use
    (std above the threshold), those that visibly change its decoded mean,
    its largest stds and the histogram of all of them."""
    usage = self.latent_usage(model)
    stds = model.class_stds.numpy()
    for c, used in enumerate(usage['used_dims_per_class']):
      tf.summary.scalar(f'used_dims/class_{c}', used)
      tf.summary.scalar(f'visible_dims/class_{c}',
                        usage['visible_dims_per_class'][c])
      tf.summary.scalar(f'largest_std/class_{c}',
                        usage['largest_stds_per_class'][c][0])
      tf.summary.histogram(f'class_stds/class_{c}', stds[c])
    tf.summary.scalar('used_dims/any_class', usage['used_dims_any_class'])
    tf.summary.scalar('used_dims/shared_by_classes',
                      usage['used_dims_shared'])
    tf.summary.scalar('visible_dims/median', usage['visible_dims_median'])
    tf.summary.scalar('visible_dims/shared_by_classes',
                      usage['visible_dims_shared'])

  def evaluate(self, model, images, labels):
    results, reconstructions = super().evaluate(model, images, labels)
    results.update(self.latent_usage(model))
    return results, reconstructions


_OT_TRAINER = configs.TrainerConfig(
    train_steps=3000, batch_size=6500, optimizer=configs.OptimizerConfig(1e-3),
    checkpoint_every=100, log_every=10, image_every=100)


@configs.register_experiment('revnet_ot_mnist')
def revnet_ot_mnist():
  """The RevNet paper's MNIST recipe with its MNIST RevNet."""
  return configs.ExperimentConfig(
      'revnet_ot_mnist', OptimalTransportConfig(),
      models.model_config('revnet_mnist'),
      configs.DataConfig('mnist_bundled'), _OT_TRAINER)


@configs.register_experiment('revnet_ot_mnist_authors')
def revnet_ot_mnist_authors():
  """The recipe with the network of the authors' notebook: their block
  order (another function of the same weights) and Xavier-uniform init."""
  return configs.ExperimentConfig(
      'revnet_ot_mnist_authors', OptimalTransportConfig(),
      models.model_config('revnet_mnist', initializer='xavier',
                          coupling_order='authors'),
      configs.DataConfig('mnist_bundled'), _OT_TRAINER)


@configs.register_experiment('revnet_ot')
def revnet_ot():
  """The recipe with the RevNet built for the data's shape and classes."""
  return configs.ExperimentConfig(
      'revnet_ot', OptimalTransportConfig(),
      models.RevNetConfig(num_classes=None),
      configs.DataConfig('image_folder'), _OT_TRAINER)

"""Adversary-free RevNet training: per-class exact optimal transport to
learnable Gaussians plus a perturbation loss (RevNet paper, Sec. 3.2)."""

import numpy as np
import ot
import tensorflow as tf

from official.evaluation import metrics
from trainers.task import Task


def transport_plan(codes, samples, labels):
  """Per-class exact OT plans between `codes` and `samples` (numpy).

  Row i of the result couples code i with the samples of its own class:
  for each class c with n_c codes, `ot.emd` on the Euclidean costs with
  uniform weights 1/n_c, so each class's plan sums to 1; the plan is then
  divided by the number of classes present, making sum(P * C) the mean over
  classes of their transport costs.
  """
  plan = np.zeros((len(codes), len(samples)), np.float64)
  classes = np.unique(labels)
  for c in classes:
    rows = np.flatnonzero(labels == c)
    cost = ot.dist(codes[rows].astype(np.float64),
                   samples[rows].astype(np.float64), metric='euclidean')
    weights = np.full(len(rows), 1. / len(rows))
    plan[np.ix_(rows, rows)] = ot.emd(weights, weights, cost)
  return (plan / len(classes)).astype(codes.dtype)


def _euclidean(a, b):
  squared = (tf.reduce_sum(a * a, -1)[:, None] - 2. * tf.matmul(
      a, b, transpose_b=True) + tf.reduce_sum(b * b, -1)[None, :])
  return tf.sqrt(tf.maximum(squared, 1e-12))


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

  def initialize(self, model, batches):
    """Class Gaussians from the untrained net's codes (paper, Sec. 3.2)."""
    codes, labels = zip(*[(model.encode_full(images), labels)
                          for images, labels in batches])
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
          codes + self.loss.perturbation_std * perturbation)
      error = images - perturbed
      per_example = tf.reduce_mean(error ** 2 + tf.abs(error), axis=[1, 2, 3])
      perturbation_loss = self.loss.perturbation_weight * tf.reduce_sum(
          per_example) / global_batch
      loss = transport + perturbation_loss
    norm = self.apply_gradients(optimizers['optimizer'], tape, loss, variables)
    return ({'loss': loss, 'transport': transport,
             'perturbation': perturbation_loss}, {'grad_norm': norm})

  def after_step(self, model):
    model.class_stds.assign(tf.maximum(model.class_stds, 0.))

  def evaluate(self, model, images, labels):
    return {**super().evaluate(model, images, labels),
            **metrics.latent_usage(model.class_stds.numpy(),
                                   self.loss.used_dim_threshold)}

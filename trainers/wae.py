"""The Wasserstein autoencoder with the MMD penalty (WAE-MMD, Tolstikhin et
al., 2018) on the DCGAN-style networks: the other comparison of the PIE
paper's Table 1."""

import dataclasses

import tensorflow as tf

from official import configs
from official import models
from trainers.task import Task


@dataclasses.dataclass(frozen=True)
class WassersteinConfig:
  """`reconstruction_weight` times the squared Euclidean cost summed over
  the image, plus `mmd_weight` times MMD(q(z), N(0, I)) with the inverse
  multiquadratic kernel C / (C + |z - z'|^2), summed over
  C = 2 * latent_dims * s for each scale s. The values are those of the
  authors' MNIST setup (github.com/tolstikhin/wae: lambda = 10, the 'l2sq'
  cost weighted 0.05, scales 0.1 ... 10)."""
  reconstruction_weight: float = 0.05
  mmd_weight: float = 10.
  kernel_scales: tuple = (0.1, 0.2, 0.5, 1., 2., 5., 10.)

  needs_labels = False


def _squared_distances(a, b):
  return (tf.reduce_sum(a ** 2, 1)[:, None] + tf.reduce_sum(b ** 2, 1)[None]
          - 2. * tf.matmul(a, b, transpose_b=True))


def mmd(codes, prior, scales):
  """The unbiased estimate of MMD^2 between the rows of `codes` and of
  `prior` (equally many) under the sum of IMQ kernels of `scales`."""
  n = tf.cast(tf.shape(codes)[0], codes.dtype)
  dims = tf.cast(tf.shape(codes)[1], codes.dtype)
  off_diagonal = 1. - tf.eye(tf.shape(codes)[0], dtype=codes.dtype)
  pairs = [_squared_distances(codes, codes), _squared_distances(prior, prior),
           _squared_distances(codes, prior)]
  total = 0.
  for scale in scales:
    c = 2. * dims * scale
    within_codes, within_prior, across = [c / (c + d) for d in pairs]
    total += (tf.reduce_sum(within_codes * off_diagonal)
              + tf.reduce_sum(within_prior * off_diagonal)) / (n * (n - 1.))
    total -= 2. * tf.reduce_sum(across) / (n * n)
  return total


@configs.register_task(WassersteinConfig)
class WassersteinAutoencoderTask(Task):
  """Minimizes reconstruction cost + mmd_weight * MMD of the replica's
  codes against as many N(0, I) draws (on several replicas, the MMD is the
  mean of the replicas' estimates)."""

  def train_step(self, model, optimizers, batch, step, phase):
    del phase
    images, _ = batch
    prior = self.local_rows(self.noise(
        0, (self.train.batch_size, model.latent_size), step))
    replicas = tf.distribute.get_replica_context().num_replicas_in_sync
    with tf.GradientTape() as tape:
      codes, _ = model.posterior(images, training=True)
      decoded = model.reconstruct(codes, training=True)
      cost = self.task_config.reconstruction_weight * tf.reduce_sum(
          (images - decoded) ** 2) / self.train.batch_size
      penalty = mmd(codes, prior, self.task_config.kernel_scales) / replicas
      loss = cost + self.task_config.mmd_weight * penalty
    norm = self.apply_gradients(optimizers['optimizer'], tape, loss,
                                model.trainable_variables)
    return ({'loss': loss, 'reconstruction': cost, 'mmd': penalty},
            {'grad_norm': norm})


@configs.register_experiment('wae_mnist')
def wae_mnist():
  """An 8-dimensional WAE-MMD on MNIST, the PIE paper's Table 1 comparison
  (Adam with beta_1 = 0.5 as in the WAE paper)."""
  return configs.ExperimentConfig(
      'wae_mnist', WassersteinConfig(),
      models.model_config('conv_autoencoder_mnist'),
      configs.DataConfig('mnist_bundled'),
      configs.TrainerConfig(
          train_steps=10_000, batch_size=100,
          optimizer=configs.OptimizerConfig(1e-3, beta_1=0.5),
          checkpoint_every=1000, log_every=100, image_every=1000))

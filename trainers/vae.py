"""The variational autoencoder (Kingma & Welling, 2013) on the DCGAN-style
networks: the comparison of the PIE paper's Table 1, trained by the same loop
as the invertible models."""

import dataclasses

import tensorflow as tf

from official import configs
from official import models
from trainers.task import Task


@dataclasses.dataclass(frozen=True)
class VariationalConfig:
  """The negative ELBO: Bernoulli cross-entropy of the pixels (in [0, 1])
  summed over the image, plus `kl_weight` times KL(q(z|x) || N(0, I))."""
  kl_weight: float = 1.

  needs_labels = False


@configs.register_task(VariationalConfig)
class VariationalAutoencoderTask(Task):
  """Minimizes the negative ELBO per image, with one reparameterized draw
  z = mean + exp(log_variance / 2) * noise per image."""

  def train_step(self, model, optimizers, batch, step, phase):
    del phase
    images, _ = batch
    noise = self.local_rows(self.noise(
        0, (self.train.batch_size, model.latent_size), step))
    with tf.GradientTape() as tape:
      mean, log_variance = model.posterior(images, training=True)
      codes = mean + tf.exp(0.5 * log_variance) * noise
      decoded = tf.clip_by_value(model.reconstruct(codes, training=True),
                                 1e-6, 1. - 1e-6)
      cross_entropy = -tf.reduce_sum(
          images * tf.math.log(decoded)
          + (1. - images) * tf.math.log(1. - decoded), axis=[1, 2, 3])
      kl = 0.5 * tf.reduce_sum(
          tf.exp(log_variance) + mean ** 2 - 1. - log_variance, axis=1)
      scale = 1. / self.train.batch_size
      reconstruction = tf.reduce_sum(cross_entropy) * scale
      kl = tf.reduce_sum(kl) * scale
      loss = reconstruction + self.task_config.kl_weight * kl
    norm = self.apply_gradients(optimizers['optimizer'], tape, loss,
                                model.trainable_variables)
    return ({'loss': loss, 'reconstruction': reconstruction, 'kl': kl},
            {'grad_norm': norm})


@configs.register_experiment('vae_mnist')
def vae_mnist():
  """An 8-dimensional VAE on MNIST, the PIE paper's Table 1 comparison."""
  return configs.ExperimentConfig(
      'vae_mnist', VariationalConfig(),
      models.model_config('conv_autoencoder_mnist', variational=True),
      configs.DataConfig('mnist_bundled'),
      configs.TrainerConfig(
          train_steps=10_000, batch_size=100,
          optimizer=configs.OptimizerConfig(1e-3), checkpoint_every=1000,
          log_every=100, image_every=1000))

"""PIE trained by maximum likelihood: minimize bits per dimension (Eq. 17)."""

import dataclasses

import numpy as np
import tensorflow as tf

from official import configs
from official import models
from official.data import pixels as pixels_lib
from trainers.task import Task


@dataclasses.dataclass(frozen=True)
class MaximumLikelihoodConfig:
  """PIE trained by maximum likelihood (Eq. 17) in bits per dimension."""

  needs_labels = False


@configs.register_task(MaximumLikelihoodConfig)
class MaximumLikelihoodTask(Task):
  """Minimizes the negative log-likelihood of uniformly dequantized 8-bit
  images in bits per dimension."""

  def train_step(self, model, optimizers, batch, step, phase):
    images, _ = batch
    pixels = pixels_lib.to_levels(images)
    noise = self.local_rows(self.noise(
        0, (self.train.batch_size,) + model.image_shape, step, uniform=True))
    with tf.GradientTape() as tape:
      bpd = tf.reduce_sum(model.bits_per_dim(pixels, noise)) / (
          self.train.batch_size)
    variables = model.trainable_variables
    norm = self.apply_gradients(optimizers['optimizer'], tape, bpd, variables)
    return {'loss': bpd, 'bits_per_dim': bpd}, {'grad_norm': norm}

  def evaluate(self, model, images, labels):
    metrics, reconstructions = super().evaluate(model, images, labels)
    pixels = pixels_lib.to_levels(images, model.compute_dtype)
    bpd = model.bits_per_dim(pixels, tf.random.stateless_uniform(
        tf.shape(pixels), [7, 7]))
    metrics['test_bits_per_dim'] = float(np.mean(bpd))
    return metrics, reconstructions


_PIE_TRAINER = configs.TrainerConfig(
    train_steps=20_000, batch_size=128,
    optimizer=configs.OptimizerConfig(1e-3))


@configs.register_experiment('pie_mnist')
def pie_mnist():
  """The PIE paper's MNIST model and recipe."""
  return configs.ExperimentConfig(
      'pie_mnist', MaximumLikelihoodConfig(), models.model_config('pie_mnist'),
      configs.DataConfig('mnist_bundled'), _PIE_TRAINER)


@configs.register_experiment('pie')
def pie():
  """The recipe with the model built for the data's shape (10-dim code)."""
  return configs.ExperimentConfig(
      'pie', MaximumLikelihoodConfig(),
      models.PieConfig(image_shape=None, conv_blocks=None, linear_sizes=None,
                       latent_dims=10),
      configs.DataConfig('image_folder'), _PIE_TRAINER)

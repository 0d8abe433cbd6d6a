"""PIE trained by maximum likelihood: minimize bits per dimension (Eq. 17)."""

import numpy as np
import tensorflow as tf

from trainers.task import Task


class MaximumLikelihoodTask(Task):
  """Minimizes the negative log-likelihood of uniformly dequantized 8-bit
  images in bits per dimension."""

  def train_step(self, model, optimizers, batch, step, phase):
    images, _ = batch
    pixels = tf.round(images * 255.)
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
    pixels = tf.constant(np.round(images * 255.), model.compute_dtype)
    bpd = model.bits_per_dim(pixels, tf.random.stateless_uniform(
        tf.shape(pixels), [7, 7]))
    metrics['test_bits_per_dim'] = float(np.mean(bpd))
    return metrics, reconstructions

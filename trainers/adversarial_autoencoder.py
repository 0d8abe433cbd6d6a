"""The generative RevNet as adversarial autoencoder (RevNet paper, Sec. 2.2)."""

import numpy as np
import tensorflow as tf

import layers
from official.evaluation import metrics
from trainers.task import Task


class AdversarialAutoencoderTask(Task):
  """Reconstruction phase, then reconstruction + latent hinge adversary.

  Reconstruction loss (both phases): the prior dimensions z of the code u
  are clipped to +-prior_clip and all others clamped to 0, giving u_c; then

  ```none
  l1_weight * |x - F^-1(u_c)|_1 + l2_weight * |u' - u_c|_2^2
  ```

  where u' is u with its prior dimensions clipped (means over elements). The
  adversarial phase adds the encoder's hinge loss -D(z) and trains the
  spectral-normalized critic D on N(0, I) draws against z with
  relu(1 - D(prior)) + relu(1 + D(z)). Adam with betas (0, 0.9) for both,
  gradient-norm clipping on the RevNet.
  """

  def build_optimizers(self, model):
    self.critic = layers.Discriminator(name='critic')
    self.critic.build((None, model.latent_size))
    return {'optimizer': self._adam(self.train.learning_rate,
                                    model.trainable_variables),
            'critic_optimizer': self._adam(self.task_config.critic_learning_rate,
                                           self.critic.trainable_variables)}

  def checkpoint_objects(self):
    return {'critic': self.critic}

  initializes = True

  def initialize(self, model, dataset):
    """Prior dims: the largest-std outputs of the untrained net."""
    model.set_prior_dims_from_codes(np.concatenate(
        [model.encode_full(images)
         for images, _ in dataset.take(self.task_config.init_batches)]))

  def phase(self, step):
    return ('reconstruction' if step < self.task_config.reconstruction_steps
            else 'adversarial')

  def _reconstruction(self, model, images, codes):
    clip = self.task_config.prior_clip
    clamped = model.extend(tf.clip_by_value(model.restrict(codes), -clip, clip))
    reconstructed = model.decode_full(clamped)
    # Both sides have the prior dims clipped, so only the others remain.
    is_prior = tf.reduce_sum(tf.one_hot(model.prior_dims, model.code_size,
                                        dtype=codes.dtype), 0)
    l1 = tf.reduce_mean(tf.abs(images - reconstructed), axis=[1, 2, 3])
    l2 = tf.reduce_mean(((1. - is_prior) * codes) ** 2, axis=1)
    scale = 1. / self.train.batch_size
    return (self.task_config.l1_weight * tf.reduce_sum(l1) * scale,
            self.task_config.l2_weight * tf.reduce_sum(l2) * scale)

  def train_step(self, model, optimizers, batch, step, phase):
    images, _ = batch
    scale = 1. / self.train.batch_size
    adversarial = phase == 'adversarial'
    if adversarial:
      prior = self.local_rows(self.noise(
          0, (self.train.batch_size, model.latent_size), step))
    with tf.GradientTape(persistent=adversarial) as tape:
      codes = model.encode_full(images)
      l1, l2 = self._reconstruction(model, images, codes)
      loss = l1 + l2
      if adversarial:
        z = model.restrict(codes)
        scores = self.critic(tf.concat([prior, z], 0), training=True)
        real, fake = tf.split(scores, 2)
        encoder_loss = -tf.reduce_sum(fake) * scale
        critic_loss = (tf.reduce_sum(tf.nn.relu(1. - real)) + tf.reduce_sum(
            tf.nn.relu(1. + fake))) * scale
        loss = loss + encoder_loss
    norm = self.apply_gradients(optimizers['optimizer'], tape, loss,
                                model.trainable_variables,
                                clip_norm=self.task_config.clip_norm)
    losses = {'loss': loss, 'l1': l1, 'l2': l2}
    if adversarial:
      self.apply_gradients(optimizers['critic_optimizer'], tape, critic_loss,
                           self.critic.trainable_variables)
      losses.update(encoder=encoder_loss, critic=critic_loss)
    return losses, {'grad_norm': norm}

  def evaluate(self, model, images, labels):
    """Adds how closely the codes of `images` follow the prior N(0, I) on
    the prior dimensions (`metrics.prior_match`) and the critic's mean
    output on those codes and on as many draws of the prior: the adversary's
    view, the two equal where it cannot tell them apart."""
    results, reconstructions = super().evaluate(model, images, labels)
    codes = model.encode(images)
    results.update(metrics.prior_match(codes))
    prior = tf.random.stateless_normal(tf.shape(codes), [0, 0],
                                       dtype=codes.dtype)
    for name, batch in (('codes', codes), ('prior', prior)):
      results[f'critic_mean_on_{name}'] = float(
          tf.reduce_mean(self.critic(batch, training=False)))
    return results, reconstructions

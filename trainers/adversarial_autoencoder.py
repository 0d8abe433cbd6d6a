"""The generative RevNet as adversarial autoencoder (RevNet paper, Sec. 2.2)."""

import dataclasses

import numpy as np
import tensorflow as tf

import layers
from official import configs
from official import models
from official.evaluation import metrics
from trainers.task import Task


@dataclasses.dataclass(frozen=True)
class AdversarialConfig:
  """The CelebA adversarial-autoencoder recipe (RevNet paper, Sec. 2.2, 3.1).

  Steps before `reconstruction_steps` train on the reconstruction loss alone;
  later steps add the hinge adversary on the prior dimensions.
  """
  reconstruction_steps: int = 20_000
  l1_weight: float = 10.
  l2_weight: float = 10.
  prior_clip: float = 2.
  clip_norm: float = 5.
  init_batches: int = 20

  needs_labels = False


@configs.register_task(AdversarialConfig)
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

  def build_networks(self, model):
    """The spectral-normalized critic on the prior dimensions."""
    self.critic = layers.Discriminator(name='critic')
    self.critic.build((None, model.latent_size))
    return {'critic': self.critic}

  def build_optimizers(self, model, networks):
    return {'optimizer': self._adam(self.train.optimizer,
                                    model.trainable_variables),
            'critic_optimizer': self._adam(
                self.train.critic_optimizer,
                networks['critic'].trainable_variables)}

  initializes = True
  phases = ('reconstruction', 'adversarial')

  def initialize(self, model, dataset):
    """Prior dims: the largest-std outputs of the untrained net."""
    model.set_prior_dims_from_codes(np.concatenate(
        [model.encode_full(images)
         for images, _ in dataset.take(self.task_config.init_batches)]))

  def phase(self, step):
    return self.phases[step >= self.task_config.reconstruction_steps]

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


# The paper's: Adam with betas (0, 0.9), 1e-4 for the RevNet and 4e-4 for
# the critic (Sec. 3.1).
_AAE_TRAINER = configs.TrainerConfig(
    train_steps=100_000, batch_size=250,
    optimizer=configs.OptimizerConfig(1e-4, beta_1=0., beta_2=0.9),
    critic_optimizer=configs.OptimizerConfig(4e-4, beta_1=0., beta_2=0.9),
    checkpoint_every=1000, log_every=100, image_every=1000)


@configs.register_experiment('revnet_aae_celeba64')
def revnet_aae_celeba64():
  """The RevNet paper's CelebA 64x64 recipe and RevNet."""
  return configs.ExperimentConfig(
      'revnet_aae_celeba64', AdversarialConfig(),
      models.model_config('revnet_celeba64'), configs.DataConfig('celeb_a'),
      _AAE_TRAINER)


@configs.register_experiment('revnet_aae_mnist')
def revnet_aae_mnist():
  """The CelebA recipe on MNIST with the MNIST RevNet: 16 prior dimensions,
  above the about 10 a PIE needs for recognizable digits, few enough for the
  critic to compare with N(0, I). MNIST is smaller and simpler than CelebA:
  a shorter reconstruction phase and half the batch; the paper's learning
  rates and Adam betas kept."""
  return configs.ExperimentConfig(
      'revnet_aae_mnist', AdversarialConfig(reconstruction_steps=5000),
      models.model_config('revnet_mnist', num_prior_dims=16, num_classes=0),
      configs.DataConfig('mnist_bundled'),
      dataclasses.replace(_AAE_TRAINER, train_steps=30_000, batch_size=128,
                          checkpoint_every=500, log_every=50,
                          image_every=500))


@configs.register_experiment('revnet_aae')
def revnet_aae():
  """The recipe with the RevNet built for the data's shape."""
  return configs.ExperimentConfig(
      'revnet_aae', AdversarialConfig(), models.RevNetConfig(num_prior_dims=64),
      configs.DataConfig('image_folder'), _AAE_TRAINER)

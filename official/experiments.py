"""Experiments as small config dataclasses, registered by name."""

import dataclasses

__all__ = ['AdversarialConfig', 'EXPERIMENTS', 'ExperimentConfig',
           'MaximumLikelihoodConfig', 'OptimalTransportConfig', 'TrainConfig',
           'get_experiment']


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  train_steps: int
  batch_size: int
  learning_rate: float
  beta_1: float = 0.9
  beta_2: float = 0.999
  seed: int = 0
  checkpoint_every: int = 500
  log_every: int = 50
  image_every: int = 500
  steps_per_loop: int = 1


@dataclasses.dataclass(frozen=True)
class AdversarialConfig:
  """The CelebA adversarial-autoencoder recipe (RevNet paper, Sec. 2.2, 3.1).

  Steps before `reconstruction_steps` train on the reconstruction loss alone;
  later steps add the hinge adversary on the prior dimensions.
  """
  reconstruction_steps: int = 20_000
  critic_learning_rate: float = 4e-4
  l1_weight: float = 10.
  l2_weight: float = 10.
  prior_clip: float = 2.
  clip_norm: float = 5.
  init_batches: int = 20


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


@dataclasses.dataclass(frozen=True)
class MaximumLikelihoodConfig:
  """PIE trained by maximum likelihood (Eq. 17) in bits per dimension."""


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  name: str
  model: str
  dataset: str
  train: TrainConfig
  loss: object
  model_overrides: tuple = ()


EXPERIMENTS = {
    'revnet_aae_celeba64': ExperimentConfig(
        name='revnet_aae_celeba64', model='revnet_celeba64', dataset='celeb_a',
        train=TrainConfig(train_steps=100_000, batch_size=250,
                          learning_rate=1e-4, beta_1=0., beta_2=0.9,
                          checkpoint_every=1000, log_every=100,
                          image_every=1000),
        loss=AdversarialConfig()),
    'revnet_ot_mnist': ExperimentConfig(
        name='revnet_ot_mnist', model='revnet_mnist', dataset='mnist_bundled',
        train=TrainConfig(train_steps=3000, batch_size=6500,
                          learning_rate=1e-3, checkpoint_every=100,
                          log_every=10, image_every=100),
        loss=OptimalTransportConfig()),
    'pie_mnist': ExperimentConfig(
        name='pie_mnist', model='pie_mnist', dataset='mnist_bundled',
        train=TrainConfig(train_steps=20_000, batch_size=128,
                          learning_rate=1e-3),
        loss=MaximumLikelihoodConfig()),
}


def get_experiment(name):
  if name not in EXPERIMENTS:
    raise ValueError(f'unknown experiment {name!r}; valid names: '
                     f'{", ".join(sorted(EXPERIMENTS))}')
  return EXPERIMENTS[name]

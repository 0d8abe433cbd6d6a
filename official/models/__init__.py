"""Invertible-autoencoder models, built by name or from their config."""

import dataclasses

from official.errors import ConfigError
from official.models.pie import PieConfig
from official.models.pie import PseudoInvertibleEncoder
from official.models.revnet import RevNetAutoencoder
from official.models.revnet import RevNetConfig
from official.models.revnet import RevNetStage

__all__ = ['MODELS', 'PieConfig', 'PseudoInvertibleEncoder',
           'RevNetAutoencoder', 'RevNetConfig', 'RevNetStage', 'build_model',
           'model_config']

# The architectures of the papers (see docs/ARCHITECTURE.md for the shapes).
MODELS = {
    'revnet_celeba64': RevNetConfig(
        image_shape=(64, 64, 3),
        stages=(RevNetStage(25, 2), RevNetStage(50, 2), RevNetStage(100, 2),
                RevNetStage(200, 2), RevNetStage(400, 2),
                RevNetStage(400, 1, kernel_size=1)),
        num_prior_dims=64),
    'revnet_mnist': RevNetConfig(
        image_shape=(28, 28, 1), pad_to=(32, 32),
        stages=(RevNetStage(25, 2), RevNetStage(50, 2), RevNetStage(100, 2),
                RevNetStage(200, 2)),
        num_prior_dims=1024, num_classes=10,
        # 2.1M parameters: at batch 256 plain autodiff keeps about 110 MiB of
        # activations and is about 20% faster (docs/PERFORMANCE.md).
        memory_saving=False),
    'pie_mnist': PieConfig(),
}

_MODEL_CLASSES = {PieConfig: PseudoInvertibleEncoder,
                  RevNetConfig: RevNetAutoencoder}


def model_config(name, **overrides):
  """The named model's config dataclass, with `overrides` replaced."""
  if name not in MODELS:
    raise ConfigError(f'unknown model {name!r}; valid names: '
                      f'{", ".join(sorted(MODELS))}')
  return dataclasses.replace(MODELS[name], **overrides)


def build_model(config, dtype='float32', name=None, network_dtype=None,
                **overrides):
  """Builds a model (variables created) from its config or the name of one of
  the papers' architectures, e.g. `build_model('pie_mnist', epsilon_sq=0.1)`.
  `network_dtype='mixed_bfloat16'` runs the coupling networks in bfloat16
  (the flow's own arithmetic stays in `dtype`). Unknown names raise an
  `official.errors.ConfigError` listing the valid ones; a config whose
  image shape is still open (`pie`'s, before `for_data`) raises a
  ValueError."""
  if isinstance(config, str):
    name = name or config
    config = model_config(config, **overrides)
  elif overrides:
    config = dataclasses.replace(config, **overrides)
  if config.image_shape is None:
    raise ValueError('the model config has no image shape yet: call its '
                     'for_data(image_shape, num_classes) first')
  model_class = _MODEL_CLASSES[type(config)]
  return model_class(config, dtype=dtype, network_dtype=network_dtype,
                     **({'name': name} if name else {}))

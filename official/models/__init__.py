"""Invertible-autoencoder models, built by name or from their config."""

import dataclasses

from official import registry
from official.models.base import MODEL_CLASSES
from official.models.base import MODELS
from official.models.base import register_model
from official.models.base import register_preset
from official.models.pie import PieConfig
from official.models.pie import PseudoInvertibleEncoder
from official.models.revnet import RevNetAutoencoder
from official.models.revnet import RevNetConfig
from official.models.revnet import RevNetStage

__all__ = ['MODELS', 'PieConfig', 'PseudoInvertibleEncoder',
           'RevNetAutoencoder', 'RevNetConfig', 'RevNetStage', 'build_model',
           'config_class', 'model_config', 'register_model',
           'register_preset']

# A model kind is one module here: its config, its class registered with
# `register_model`, and its named architectures with `register_preset`.
registry.import_submodules(__name__, __path__)


def config_class(name):
  """The model config class of this name (as `experiment.json` records it)."""
  return MODEL_CLASSES.key_named(name)


def model_config(name, **overrides):
  """The named model's config dataclass, with `overrides` replaced."""
  return dataclasses.replace(MODELS.get(name), **overrides)


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
  model_class = MODEL_CLASSES.get(type(config))
  return model_class(config, dtype=dtype, network_dtype=network_dtype,
                     **({'name': name} if name else {}))

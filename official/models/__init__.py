"""Invertible-autoencoder models, built by name."""

import ast
import dataclasses

from official.models.pie import PieConfig
from official.models.pie import PseudoInvertibleEncoder
from official.models.revnet import RevNetAutoencoder
from official.models.revnet import RevNetConfig
from official.models.revnet import RevNetStage

__all__ = ['MODELS', 'PieConfig', 'PseudoInvertibleEncoder',
           'RevNetAutoencoder', 'RevNetConfig', 'RevNetStage', 'build_model',
           'model_config', 'overrides_from_json', 'overrides_to_json',
           'parse_overrides']

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


def model_config(name, **overrides):
  """The named model's config dataclass, with `overrides` replaced."""
  if name not in MODELS:
    raise ValueError(f'unknown model {name!r}; valid names: '
                     f'{", ".join(sorted(MODELS))}')
  return dataclasses.replace(MODELS[name], **overrides)


def build_model(name, dtype='float32', **overrides):
  """Builds the named model (variables created), e.g. `build_model('pie_mnist',
  epsilon_sq=0.1)`. Unknown names raise a ValueError listing the valid ones."""
  config = model_config(name, **overrides)
  model_class = (PseudoInvertibleEncoder if isinstance(config, PieConfig)
                 else RevNetAutoencoder)
  return model_class(config, dtype=dtype, name=name)


def _is_tuple_of_dataclasses(value):
  return (isinstance(value, tuple) and value and
          dataclasses.is_dataclass(value[0]))


def overrides_to_json(overrides):
  """Model-config overrides (KEY, VALUE) pairs as a JSON-ready dict."""
  return {key: ([dataclasses.asdict(v) for v in value]
                if _is_tuple_of_dataclasses(value) else value)
          for key, value in overrides}


def overrides_from_json(name, data):
  """Inverse of `overrides_to_json` for the named model."""
  default = model_config(name)
  overrides = {}
  for key, value in data.items():
    current = getattr(default, key)
    if _is_tuple_of_dataclasses(current):
      value = tuple(type(current[0])(**item) for item in value)
    elif isinstance(value, list):
      value = tuple(value)
    overrides[key] = value
  return tuple(sorted(overrides.items()))


def _override_value(default, key, text):
  """The value of KEY=TEXT, of the type of `default`; a tuple of dataclasses
  (RevNet stages) is given as a tuple of tuples, e.g.
  stages=((25,2),(50,2),(400,1,1))."""
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = text
  if _is_tuple_of_dataclasses(default):
    try:
      return tuple(type(default[0])(*fields) for fields in value)
    except TypeError as e:
      raise ValueError(f'bad --model_override {key}={text}: give a tuple of '
                       f'{type(default[0]).__name__} fields ({e})') from e
  numeric = isinstance(default, float) and isinstance(value, int)
  if default is not None and not numeric and not isinstance(
      value, type(default)):
    raise ValueError(f'bad --model_override {key}={text}: {key} takes a '
                     f'value of type {type(default).__name__}')
  return value


def parse_overrides(name, items):
  """KEY=VALUE strings (`--model_override`) as typed overrides of the named
  model's config, a tuple of (KEY, VALUE) pairs."""
  default = model_config(name)
  fields = {f.name for f in dataclasses.fields(default)}
  overrides = {}
  for item in items:
    key, sep, text = item.partition('=')
    if not sep or key not in fields:
      raise ValueError(f'bad --model_override {item!r}: use KEY=VALUE with KEY '
                       f'one of {", ".join(sorted(fields))}')
    overrides[key] = _override_value(getattr(default, key), key, text)
  return tuple(sorted(overrides.items()))

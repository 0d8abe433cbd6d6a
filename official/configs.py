"""The experiment config and its one mechanism: sections, overrides,
validation, fitting to the data, JSON, and the registries of experiments and
tasks.

An `ExperimentConfig` has five sections: `task` (the loss and its
hyperparameters; each task module defines its own class), `model` (the
architecture), `data`, `trainer` and `runtime`.
`override(config, {'trainer.batch_size': 64, 'model.epsilon_sq': 0.1})` is
the one way to change any field; every flag of the programs becomes such an
entry. `resolve(config, dataset)` fits the config to the data: the image
shape, the model built for it and the number of classes.

A task module registers its task class for its config section
(`@register_task(MaximumLikelihoodConfig)`) and its presets
(`@register_experiment('pie_mnist')` above a function returning the
`ExperimentConfig`). `official.experiments` imports them all: ask it, not
this module, for an experiment by name.
"""

import ast
import dataclasses
import warnings

from official import models
from official.errors import ConfigError
from official.registry import Registry

__all__ = ['DataConfig', 'EXPERIMENTS', 'ExperimentConfig', 'OptimizerConfig',
           'RuntimeConfig',
           'STRATEGIES', 'TASKS', 'TrainerConfig', 'differences',
           'experiment_names', 'first_difference', 'from_json',
           'get_experiment', 'items_from_file', 'model_from_json', 'override',
           'parse_image_size', 'register_experiment', 'register_task',
           'resolve', 'to_json', 'value_at']


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  """Adam (`trainers/adam.py`) for one set of weights."""
  learning_rate: float
  beta_1: float = 0.9
  beta_2: float = 0.999


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
  """How long and how a run trains: the steps, the global batch, one
  `OptimizerConfig` per optimizer (`optimizer` for the model;
  `critic_optimizer` for a task that trains a critic, else None), the seed
  of everything random, and how often it logs, draws and saves."""
  train_steps: int
  batch_size: int
  optimizer: OptimizerConfig
  critic_optimizer: OptimizerConfig = None
  seed: int = 0
  checkpoint_every: int = 500
  log_every: int = 50
  image_every: int = 500
  steps_per_loop: int = 1
  # Updates over which every learning rate rises linearly from 0
  # (trainers/adam.py); `official.train --init_from` sets it unless given.
  warmup_steps: int = 0


def parse_image_size(value):
  """(H, W) from N, 'N', 'HxW', or a pair; None stays None."""
  if value is None or isinstance(value, tuple) and len(value) == 2:
    return value
  if isinstance(value, int):
    return (value, value)
  if isinstance(value, (list, tuple)) and len(value) == 2:
    return tuple(value)
  text = str(value).lower().replace(' ', '')
  parts = text.split('x') if 'x' in text else [text, text]
  if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
    raise ConfigError(f'bad image size {value!r}: give N or HxW, e.g. 32 or '
                      f'64x48')
  return tuple(int(p) for p in parts)


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Where the images come from and the shape they are given.

  Attributes:
    dataset: `mnist_bundled`, `mnist`, `celeb_a`, `celeb_a_files`,
      `image_folder`, `npz`, or any TFDS image dataset
      (`official/data/pipelines.py`).
    data_dir: the folder or file of the data (see `--data_dir`).
    image_size: (H, W) the images are centre-cropped and resized to. None:
      the model's size for the papers' presets, else the data's own.
    channels: 1 or 3; grayscale and RGB are converted to it. None: as
      `image_size`.
  """
  dataset: str
  data_dir: str = None
  image_size: tuple = dataclasses.field(
      default=None, metadata={'parse': parse_image_size})
  channels: int = None

  @property
  def image_shape(self):
    return tuple(self.image_size) + (self.channels,)


STRATEGIES = ('mirrored', 'multi_worker', 'one_device')


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
  """Where and how a run computes, and the weights a new run starts from
  (`official.train`'s flags of the same names); but for `init_from`, none
  of it changes what is learned beyond float rounding."""
  strategy: str = 'mirrored'
  cpu_replicas: int = 1
  jit_compile: bool = False
  tf32: bool = False
  # The coupling networks in bfloat16 (float32 weights); the flow's own
  # arithmetic stays float32.
  mixed_precision: bool = False
  deterministic: bool = False
  # A new run's weights: a run folder, one of its checkpoints or an export.
  init_from: str = None


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  name: str
  task: object
  model: object
  data: DataConfig
  trainer: TrainerConfig
  runtime: RuntimeConfig = RuntimeConfig()


_SECTIONS = ('task', 'model', 'data', 'trainer', 'runtime')

# The presets' `ExperimentConfig`s (frozen, so shared safely), by name.
EXPERIMENTS = Registry('experiment')
# Task classes (`trainers.task.Task`), by the class of their config section.
TASKS = Registry('task config')


def register_experiment(name):
  """Decorator: registers the `ExperimentConfig` that the decorated function
  (of no arguments) returns as experiment `name` (a preset); the function
  itself is returned unchanged."""
  def register(preset):
    EXPERIMENTS.register(name, preset())
    return preset
  return register


def register_task(config_class):
  """Decorator: registers the task class that trains experiments whose
  `task` section is a `config_class`."""
  return TASKS.register(config_class)


def get_experiment(name):
  """The `ExperimentConfig` of a registered experiment; a `ConfigError`
  listing the registered names for any other."""
  return EXPERIMENTS.get(name)


def experiment_names():
  return EXPERIMENTS.names()


def _typed(field, current, value, key):
  """`value` (typed, or text to parse) as the type of field `key`."""
  if isinstance(value, str) and field.type is not str:
    try:
      value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      pass
  if 'parse' in field.metadata:
    return field.metadata['parse'](value)
  if 'element' in field.metadata and value is not None:
    element = field.metadata['element']
    try:
      return tuple(item if isinstance(item, element) else
                   element(**item) if isinstance(item, dict) else
                   element(*item) for item in value)
    except TypeError as e:
      raise ConfigError(f'bad {key}={value!r}: give a tuple of '
                        f'{element.__name__} fields ({e})') from e
  if value is None:
    return None
  expected = field.type
  if isinstance(value, list):
    value = tuple(value)
  if expected is float and isinstance(value, int) and not isinstance(
      value, bool):
    return float(value)
  if expected is int and isinstance(value, bool) or not isinstance(
      value, expected):
    raise ConfigError(f'bad {key}={value!r}: {key} takes a value of type '
                      f'{expected.__name__}'
                      + (f' (now {current!r})' if current is not None else ''))
  return value


def items_from_file(path):
  """The overrides in a YAML (or JSON) file of sections and their fields,
  `{'trainer': {'batch_size': 64}, 'model': {'conv_hidden': 32}}`, as
  `override` items (`{'trainer.batch_size': 64, ...}`).

  Raises:
    official.errors.ConfigError: a file that cannot be read or parsed, or
      that is not a mapping of sections to mappings of fields.
  """
  import yaml  # pylint: disable=g-import-not-at-top
  try:
    with open(path) as f:
      content = yaml.safe_load(f)
  except OSError as e:
    raise ConfigError(f'cannot read the config file {path}: '
                      f'{e.strerror}') from e
  except yaml.YAMLError as e:
    raise ConfigError(f'{path} is not YAML or JSON: '
                      f'{" ".join(str(e).split())}') from e
  content = {} if content is None else content
  if not isinstance(content, dict) or not all(
      isinstance(fields, dict) for fields in content.values()):
    raise ConfigError(f'{path} must map sections ({", ".join(_SECTIONS)}) '
                      'to their fields, e.g. "trainer: {batch_size: 64}"')
  return {f'{section}.{name}': value for section, fields in content.items()
          for name, value in fields.items()}


def override(config, items):
  """`config` with fields replaced: `items` maps dotted keys
  (`trainer.batch_size`, `trainer.optimizer.learning_rate`, `model.stages`,
  ...) to typed values or to text, parsed as Python literals
  (`stages=((25,2),(50,2))`, `image_size=32x32`); a key naming a nested
  config (`trainer.optimizer`) takes a mapping of its fields. Keys of fields
  that moved (`_MOVED`) still work, with a `DeprecationWarning`.

  Raises:
    official.errors.ConfigError: naming an unknown key, with the valid
      ones, a value of the wrong type, or a count, rate or eps^2 that is
      not positive in the result.
  """
  config = _replaced(config, items, warn=True)
  _check(config)
  return config


def _replaced(config, items, warn):
  for key, value in dict(items).items():
    if key in _MOVED:
      if warn:
        warnings.warn(f'{key} is now {_MOVED[key]}', DeprecationWarning,
                      stacklevel=3)
      key = _MOVED[key]
    section, _, path = key.partition('.')
    if section not in _SECTIONS:
      raise ConfigError(f'bad override {key!r}: use SECTION.FIELD with SECTION '
                        f'one of {", ".join(_SECTIONS)}')
    config = dataclasses.replace(config, **{section: _set(
        getattr(config, section), path, value, key, config.name)})
  return config


def _set(part, path, value, key, experiment):
  """`part` (a config dataclass) with the field at dotted `path` set."""
  name, _, rest = path.partition('.')
  fields = {f.name: f for f in dataclasses.fields(part)}
  if name not in fields:
    raise ConfigError(f'bad override {key!r}: {type(part).__name__} of '
                      f'{experiment} has the fields '
                      f'{", ".join(sorted(fields)) or "(none)"}')
  current = getattr(part, name)
  nested = fields[name].type if dataclasses.is_dataclass(
      fields[name].type) else None
  if nested and isinstance(value, str) and not rest:
    try:  # --params_override=trainer.optimizer={'learning_rate':1e-3}
      value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      pass
  if nested and isinstance(value, dict) and not rest:
    if current is None:  # a config this experiment lacks: all of it given
      try:
        current = nested(**value)
      except TypeError as e:
        raise ConfigError(f'bad override {key!r}: {e}') from e
      return dataclasses.replace(part, **{name: current})
    for field_name, field_value in value.items():
      part = _set(part, f'{name}.{field_name}', field_value, key, experiment)
    return part
  if rest:
    if nested is None:
      raise ConfigError(f'bad override {key!r}: {name} has no fields')
    if current is None:
      raise ConfigError(f'bad override {key!r}: {experiment} has no {name} '
                        f'(set all of it: {".".join(key.split(".")[:-1])}='
                        f'{{...}})')
    return dataclasses.replace(part, **{name: _set(current, rest, value, key,
                                                   experiment)})
  if nested and value is not None and not isinstance(value, nested):
    raise ConfigError(f'bad override {key!r}: give a mapping of the fields '
                      f'of {nested.__name__}')
  return dataclasses.replace(part, **{name: _typed(
      fields[name], current, value, key)})


# Fields that moved: old key -> new key.
_MOVED = {'trainer.mixed_precision': 'runtime.mixed_precision',
          'trainer.learning_rate': 'trainer.optimizer.learning_rate',
          'trainer.beta_1': 'trainer.optimizer.beta_1',
          'trainer.beta_2': 'trainer.optimizer.beta_2',
          'task.critic_learning_rate': 'trainer.critic_optimizer.learning_rate'}

# Fields that must be above 0 wherever a config has them.
_POSITIVE = ('trainer.train_steps', 'trainer.batch_size',
             'trainer.optimizer.learning_rate', 'trainer.checkpoint_every',
             'trainer.log_every', 'trainer.image_every',
             'trainer.steps_per_loop',
             'trainer.critic_optimizer.learning_rate',
             'model.epsilon_sq', 'runtime.cpu_replicas')


def value_at(config, key):
  """The value of the field at dotted `key`; None where a config on the
  way has no such field or is None."""
  value = config
  for name in key.split('.'):
    value = getattr(value, name, None)
  return value


def _check(config):
  """Raises a `ConfigError` for the first field of `_POSITIVE` at 0 or
  below, or a runtime that cannot be, whichever flag or override set it."""
  for key in _POSITIVE:
    value = value_at(config, key)
    if value is not None and not value > 0:
      raise ConfigError(f'{key} must be positive, got {value}')
  runtime = config.runtime
  if runtime.strategy not in STRATEGIES:
    raise ConfigError(f'runtime.strategy must be one of '
                      f'{", ".join(STRATEGIES)}, got {runtime.strategy!r}')
  if runtime.jit_compile and runtime.cpu_replicas > 1:
    raise ConfigError('--jit_compile runs one replica per device: it cannot '
                      'be combined with --cpu_replicas above 1')


def resolve(config, dataset):
  """The config fitted to the data described by `dataset` (a
  `pipelines.DatasetInfo`): the image shape set, the model built for it, the
  number of classes filled in.

  Raises:
    official.errors.ConfigError: in one line, when the data cannot feed
      this experiment (no labels for a recipe that needs them, mixed image
      sizes without `--image_size`, a size the model cannot take).
  """
  data, model = config.data, config.model
  if config.task.needs_labels and not dataset.num_classes:
    raise ConfigError(f'{config.name} needs class labels and {data.dataset} '
                      f'has none{dataset.why_unlabelled}')
  fixed = model.image_shape
  native = dataset.image_shape or (None, None, None)
  size = data.image_size or (fixed[:2] if fixed else None)
  if size is None and native[0] is None:
    raise ConfigError(f'the images of {dataset.name} differ in size '
                      f'({dataset.sizes_seen}): give --image_size')
  channels = data.channels or (fixed[2] if fixed else native[2])
  if channels not in (1, 3):
    raise ConfigError(f'channels must be 1 or 3, got {channels}')
  data = dataclasses.replace(data, image_size=tuple(size or native[:2]),
                             channels=channels)
  if fixed and tuple(fixed) != data.image_shape:
    raise ConfigError(
        f'{config.name} takes {_shape_text(fixed)} images, not '
        f'{_shape_text(data.image_shape)}; --experiment='
        f'{" or ".join(_sized_by_data(type(model)))} builds its model for '
        'any size')
  return dataclasses.replace(config, data=data, model=model.for_data(
      data.image_shape, dataset.num_classes))


def _sized_by_data(model_class):
  """The experiments whose `model_class` model takes the data's shape."""
  return [name for name in experiment_names()
          if type(get_experiment(name).model) is model_class
          and get_experiment(name).model.image_shape is None]


def _shape_text(shape):
  return 'x'.join(str(s) for s in shape)


def to_json(config):
  """A JSON-ready dict of `config`, with the class of each section."""
  out = {'name': config.name}
  for name in _SECTIONS:
    part = getattr(config, name)
    out[name] = {'class': type(part).__name__, **dataclasses.asdict(part)}
  return out


def _tuples(value):
  return tuple(map(_tuples, value)) if isinstance(value, list) else value


def _from_dict(cls, data):
  """The section config that `to_json` wrote as `data`; `cls`: its class,
  or a function of the class name that `to_json` recorded."""
  data = dict(data)
  name = data.pop('class', None)
  cls = cls if isinstance(cls, type) else cls(name)
  values = {}
  for field in dataclasses.fields(cls):
    if field.name not in data:
      continue
    value = data[field.name]
    element = field.metadata.get('element')
    if element and value is not None:
      value = tuple(element(**item) for item in value)
    if dataclasses.is_dataclass(field.type) and isinstance(value, dict):
      value = _from_dict(field.type, value)
    values[field.name] = _tuples(value)
  return cls(**values)


def _moved_to_where_they_are_now(data):
  """A recorded config (`to_json`'s dict) with the fields that moved since
  it was written put in their places now."""
  data = {key: dict(value) if isinstance(value, dict) else value
          for key, value in data.items()}
  trainer, task = data['trainer'], data['task']
  runtime = data.setdefault('runtime', {})
  if 'mixed_precision' in trainer:
    runtime.setdefault('mixed_precision', trainer.pop('mixed_precision'))
  if 'learning_rate' in trainer:
    trainer['optimizer'] = {name: trainer.pop(name) for name in (
        'learning_rate', 'beta_1', 'beta_2') if name in trainer}
  if 'critic_learning_rate' in task:
    trainer['critic_optimizer'] = {
        **trainer['optimizer'],
        'learning_rate': task.pop('critic_learning_rate')}
  return data


def from_json(info):
  """The `ExperimentConfig` a run's `experiment.json` records.

  Runs written before the nested config (keys `model`, `model_overrides`,
  `dataset`, `train`, `loss`), or before a field moved, are read too.
  """
  if 'config' in info:
    data = _moved_to_where_they_are_now(info['config'])
    return ExperimentConfig(
        data['name'], _from_dict(TASKS.key_named, data['task']),
        model_from_json(info),
        _from_dict(DataConfig, data['data']),
        _from_dict(TrainerConfig, data['trainer']),
        # Runs recorded before the section: the defaults.
        _from_dict(RuntimeConfig, data['runtime']))
  preset = get_experiment(info['experiment'])
  model = models.model_config(info['model'])
  items = {f'model.{key}': value
           for key, value in info.get('model_overrides', {}).items()}
  items.update({f'trainer.{key}': value
                for key, value in info.get('train', {}).items()})
  items.update({f'task.{key}': value
                for key, value in info.get('loss', {}).items()})
  items['data.dataset'] = info.get('dataset', preset.data.dataset)
  items['data.data_dir'] = info.get('data_dir')
  config = _replaced(dataclasses.replace(preset, model=model), items,
                     warn=False)
  _check(config)
  return dataclasses.replace(config, data=dataclasses.replace(
      config.data, image_size=tuple(config.model.image_shape[:2]),
      channels=config.model.image_shape[2]))


def model_from_json(info):
  """The model config a run's `experiment.json` records (needs no task
  registered: loading a model does not train it)."""
  if 'config' in info:
    return _from_dict(models.config_class, info['config']['model'])
  model = models.model_config(info['model'])
  fields = {f.name: f for f in dataclasses.fields(model)}
  return dataclasses.replace(model, **{
      key: _typed(fields[key], getattr(model, key), value, f'model.{key}')
      for key, value in info.get('model_overrides', {}).items()})


def differences(theirs, ours):
  """(field, their value, our value) for every field in which two configs
  of one section differ; fields of nested configs (`optimizer.beta_1`) by
  their dotted names."""
  found = []
  for field in dataclasses.fields(ours):
    a, b = getattr(theirs, field.name), getattr(ours, field.name)
    if a == b:
      continue
    if dataclasses.is_dataclass(a) and type(a) is type(b):
      found += [(f'{field.name}.{name}', x, y)
                for name, x, y in differences(a, b)]
    else:
      found.append((field.name, a, b))
  return found


def first_difference(theirs, ours):
  """'FIELD: A there, B here' for the first field in which two model (or
  other section) configs differ, or None."""
  if type(theirs) is not type(ours):
    return f'model: {type(theirs).__name__} there, {type(ours).__name__} here'
  for name, a, b in differences(theirs, ours):
    return f'{name}: {a!r} there, {b!r} here'
  return None

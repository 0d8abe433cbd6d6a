"""Experiments: one nested config per recipe, registered by name.

An `ExperimentConfig` has four sections, `task` (the loss and its
hyperparameters), `model` (the architecture), `data` and `trainer`.
`override(config, {'trainer.batch_size': 64, 'model.epsilon_sq': 0.1})` is
the one way to change any field; every flag of `official.train` becomes such
an entry. `resolve(config, dataset)` fits the config to the data: the image
shape, the model built for it and the number of classes.

The papers' presets (`pie_mnist`, `revnet_ot_mnist`, `revnet_aae_celeba64`)
fix their model; `pie`, `revnet_ot` and `revnet_aae` take it from the data's
shape (`PieConfig.for_data`, `RevNetConfig.for_data`).
"""

import ast
import dataclasses

from official.errors import ConfigError
from official.models import MODELS
from official.models import PieConfig
from official.models import RevNetConfig

__all__ = ['AdversarialConfig', 'DataConfig', 'EXPERIMENTS',
           'ExperimentConfig', 'MaximumLikelihoodConfig',
           'OptimalTransportConfig', 'RuntimeConfig', 'STRATEGIES',
           'TrainerConfig', 'differences',
           'first_difference',
           'from_json', 'get_experiment', 'items_from_file', 'override',
           'parse_image_size',
           'resolve', 'to_json']


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
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
  mixed_precision: bool = False
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

  needs_labels = False


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
  # `metrics.visible_dims`: the dimensions of the largest class-averaged
  # std that change a decoded class mean visibly.
  visible_dims_top: int = 4
  visible_change_threshold: float = 0.05

  needs_labels = True


@dataclasses.dataclass(frozen=True)
class MaximumLikelihoodConfig:
  """PIE trained by maximum likelihood (Eq. 17) in bits per dimension."""

  needs_labels = False


STRATEGIES = ('mirrored', 'multi_worker', 'one_device')


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
  """Where and how a run computes; none of it changes what is learned
  beyond float rounding (`official.train`'s flags of the same names)."""
  strategy: str = 'mirrored'
  cpu_replicas: int = 1
  jit_compile: bool = False
  tf32: bool = False
  deterministic: bool = False


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  name: str
  task: object
  model: object
  data: DataConfig
  trainer: TrainerConfig
  runtime: RuntimeConfig = RuntimeConfig()


_TASKS = {cls.__name__: cls for cls in (
    AdversarialConfig, OptimalTransportConfig, MaximumLikelihoodConfig)}
_MODELS = {cls.__name__: cls for cls in (PieConfig, RevNetConfig)}

_AAE_TRAINER = TrainerConfig(train_steps=100_000, batch_size=250,
                             learning_rate=1e-4, beta_1=0., beta_2=0.9,
                             checkpoint_every=1000, log_every=100,
                             image_every=1000)
_OT_TRAINER = TrainerConfig(train_steps=3000, batch_size=6500,
                            learning_rate=1e-3, checkpoint_every=100,
                            log_every=10, image_every=100)
# MNIST is smaller and simpler than CelebA: a shorter reconstruction phase and
# run at half the batch, the paper's learning rates and Adam betas kept.
_AAE_MNIST_TRAINER = dataclasses.replace(
    _AAE_TRAINER, train_steps=30_000, batch_size=128, checkpoint_every=500,
    log_every=50, image_every=500)
_PIE_TRAINER = TrainerConfig(train_steps=20_000, batch_size=128,
                             learning_rate=1e-3)

EXPERIMENTS = {
    # The papers' presets: their model, their data.
    'revnet_aae_celeba64': ExperimentConfig(
        'revnet_aae_celeba64', AdversarialConfig(), MODELS['revnet_celeba64'],
        DataConfig('celeb_a'), _AAE_TRAINER),
    'revnet_ot_mnist': ExperimentConfig(
        'revnet_ot_mnist', OptimalTransportConfig(), MODELS['revnet_mnist'],
        DataConfig('mnist_bundled'), _OT_TRAINER),
    # The OT recipe with the network of the authors' notebook: their block
    # order (another function of the same weights) and Xavier-uniform init.
    'revnet_ot_mnist_authors': ExperimentConfig(
        'revnet_ot_mnist_authors', OptimalTransportConfig(),
        dataclasses.replace(MODELS['revnet_mnist'], initializer='xavier',
                            coupling_order='authors'),
        DataConfig('mnist_bundled'), _OT_TRAINER),
    # The CelebA recipe on MNIST with the MNIST RevNet: 16 prior dimensions,
    # above the about 10 a PIE needs for recognizable digits, few enough for
    # the critic to compare with N(0, I).
    'revnet_aae_mnist': ExperimentConfig(
        'revnet_aae_mnist', AdversarialConfig(reconstruction_steps=5000),
        dataclasses.replace(MODELS['revnet_mnist'], num_prior_dims=16,
                            num_classes=0),
        DataConfig('mnist_bundled'), _AAE_MNIST_TRAINER),
    'pie_mnist': ExperimentConfig(
        'pie_mnist', MaximumLikelihoodConfig(), MODELS['pie_mnist'],
        DataConfig('mnist_bundled'), _PIE_TRAINER),
    # The same recipes with the model built for the data's shape.
    'revnet_aae': ExperimentConfig(
        'revnet_aae', AdversarialConfig(),
        RevNetConfig(num_prior_dims=64),
        DataConfig('image_folder'), _AAE_TRAINER),
    'revnet_ot': ExperimentConfig(
        'revnet_ot', OptimalTransportConfig(),
        RevNetConfig(num_classes=None),
        DataConfig('image_folder'), _OT_TRAINER),
    'pie': ExperimentConfig(
        'pie', MaximumLikelihoodConfig(),
        PieConfig(image_shape=None, conv_blocks=None, linear_sizes=None,
                  latent_dims=10),
        DataConfig('image_folder'), _PIE_TRAINER),
}

_SECTIONS = ('task', 'model', 'data', 'trainer', 'runtime')


def get_experiment(name):
  if name not in EXPERIMENTS:
    raise ConfigError(f'unknown experiment {name!r}; valid names: '
                      f'{", ".join(sorted(EXPERIMENTS))}')
  return EXPERIMENTS[name]


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
  (`trainer.batch_size`, `model.stages`, ...) to typed values or to text,
  parsed as Python literals (`stages=((25,2),(50,2))`, `image_size=32x32`).

  Raises:
    official.errors.ConfigError: naming an unknown key, with the valid
      ones, a value of the wrong type, or a count, rate or eps^2 that is
      not positive in the result.
  """
  sections = {name: {} for name in _SECTIONS}
  for key, value in dict(items).items():
    section, _, field_name = key.partition('.')
    if section not in sections:
      raise ConfigError(f'bad override {key!r}: use SECTION.FIELD with SECTION '
                        f'one of {", ".join(_SECTIONS)}')
    part = getattr(config, section)
    fields = {f.name: f for f in dataclasses.fields(part)}
    if field_name not in fields:
      raise ConfigError(f'bad override {key!r}: {type(part).__name__} of '
                        f'{config.name} has the fields '
                        f'{", ".join(sorted(fields)) or "(none)"}')
    sections[section][field_name] = _typed(
        fields[field_name], getattr(part, field_name), value, key)
  config = dataclasses.replace(config, **{
      name: dataclasses.replace(getattr(config, name), **changes)
      for name, changes in sections.items() if changes})
  _check(config)
  return config


# Fields that must be above 0 wherever a section has them.
_POSITIVE = ('trainer.train_steps', 'trainer.batch_size',
             'trainer.learning_rate', 'trainer.checkpoint_every',
             'trainer.log_every', 'trainer.image_every',
             'trainer.steps_per_loop', 'task.critic_learning_rate',
             'model.epsilon_sq', 'runtime.cpu_replicas')


def _check(config):
  """Raises a `ConfigError` for the first field of `_POSITIVE` at 0 or
  below, or a runtime that cannot be, whichever flag or override set it."""
  for key in _POSITIVE:
    section, _, field_name = key.partition('.')
    value = getattr(getattr(config, section), field_name, None)
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
    generic = {'PieConfig': 'pie', 'RevNetConfig': 'revnet_ot or revnet_aae'}
    raise ConfigError(
        f'{config.name} takes {_shape_text(fixed)} images, not '
        f'{_shape_text(data.image_shape)}; --experiment='
        f'{generic[type(model).__name__]} builds its model for any size')
  return dataclasses.replace(config, data=data, model=model.for_data(
      data.image_shape, dataset.num_classes))


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


def _from_dict(registry, data):
  """The section config that `to_json` wrote as `data`."""
  data = dict(data)
  cls = registry[data.pop('class')] if isinstance(registry, dict) else registry
  values = {}
  for field in dataclasses.fields(cls):
    if field.name not in data:
      continue
    value = data[field.name]
    element = field.metadata.get('element')
    if element and value is not None:
      value = tuple(element(**item) for item in value)
    values[field.name] = _tuples(value)
  return cls(**values)


def from_json(info):
  """The `ExperimentConfig` a run's `experiment.json` records.

  Runs written before the nested config (keys `model`, `model_overrides`,
  `dataset`, `train`, `loss`) are read too.
  """
  if 'config' in info:
    data = info['config']
    return ExperimentConfig(
        data['name'], _from_dict(_TASKS, data['task']),
        _from_dict(_MODELS, data['model']),
        _from_dict(DataConfig, data['data']),
        _from_dict(TrainerConfig, data['trainer']),
        # Runs recorded before the section: the defaults.
        _from_dict(RuntimeConfig, data.get('runtime', {})))
  preset = get_experiment(info['experiment'])
  model = MODELS[info['model']]
  items = {f'model.{key}': value
           for key, value in info.get('model_overrides', {}).items()}
  items.update({f'trainer.{key}': value
                for key, value in info.get('train', {}).items()})
  items.update({f'task.{key}': value
                for key, value in info.get('loss', {}).items()})
  items['data.dataset'] = info.get('dataset', preset.data.dataset)
  items['data.data_dir'] = info.get('data_dir')
  config = override(dataclasses.replace(preset, model=model), items)
  return dataclasses.replace(config, data=dataclasses.replace(
      config.data, image_size=tuple(config.model.image_shape[:2]),
      channels=config.model.image_shape[2]))


def differences(theirs, ours):
  """(field, their value, our value) for every field in which two configs
  of one section differ."""
  return [(field.name, getattr(theirs, field.name), getattr(ours, field.name))
          for field in dataclasses.fields(ours)
          if getattr(theirs, field.name) != getattr(ours, field.name)]


def first_difference(theirs, ours):
  """'FIELD: A there, B here' for the first field in which two model (or
  other section) configs differ, or None."""
  if type(theirs) is not type(ours):
    return f'model: {type(theirs).__name__} there, {type(ours).__name__} here'
  for name, a, b in differences(theirs, ours):
    return f'{name}: {a!r} there, {b!r} here'
  return None

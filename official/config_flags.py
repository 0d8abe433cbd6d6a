"""The flags every program takes to choose and change an experiment config:
`--experiment`, `--config_file` and `--params_override`, and the helper that
turns them into `official.configs.override` items.

A program defines them once with `define(default_experiment)`; its own short
flags (`official.train --batch_size`) are aliases of config fields, merged by
`items(...)` between the config file (first) and `--params_override` (last).
"""

from absl import flags

from official import errors
from official import experiments

_EXPERIMENT = 'experiment'
_CONFIG_FILE = 'config_file'
_PARAMS_OVERRIDE = 'params_override'


def define(default_experiment):
  """Defines `--experiment`, `--config_file` and `--params_override`."""
  flags.DEFINE_string(
      _EXPERIMENT, default_experiment, 'Which experiment: '
      + ', '.join(experiments.experiment_names()) + '.')
  flags.DEFINE_string(
      _CONFIG_FILE, None, 'A YAML or JSON file of SECTION: {FIELD: VALUE} '
      'replacing fields of the experiment config, e.g. "trainer: '
      '{batch_size: 64}"; applied first, then the other flags.')
  flags.DEFINE_multi_string(
      _PARAMS_OVERRIDE, [], 'SECTION.FIELD=VALUE replacing any field of the '
      'experiment config (sections: task, model, data, trainer, runtime; '
      'see official/configs.py), e.g. model.latent_dims=16 or '
      'trainer.optimizer.beta_1=0.5. Repeatable; applied after the other '
      'flags.')


def pairs(items, flag, prefix=''):
  """`KEY=VALUE` texts of `--flag` as {prefix + KEY: VALUE}."""
  out = {}
  for item in items:
    key, sep, value = item.partition('=')
    if not sep:
      form = prefix.upper() or 'SECTION.'
      raise errors.ConfigError(f'bad --{flag} {item!r}: use {form}KEY=VALUE')
    out[prefix + key] = value
  return out


def items(aliases=None):
  """The config file's items, then `aliases` (the program's own flags as
  {'SECTION.FIELD': value}), then `--params_override`: later ones win."""
  values = flags.FLAGS
  out = (experiments.items_from_file(values[_CONFIG_FILE].value)
         if values[_CONFIG_FILE].value else {})
  out.update(aliases or {})
  out.update(pairs(values[_PARAMS_OVERRIDE].value, _PARAMS_OVERRIDE))
  return out


def experiment(aliases=None):
  """The `--experiment` config with the config file, the program's short
  flags (`aliases(config)`: {'SECTION.FIELD': value}) and `--params_override`
  applied in that order (not yet fitted to the data: `configs.resolve`)."""
  config = experiments.get_experiment(flags.FLAGS[_EXPERIMENT].value)
  return experiments.override(
      config, items(aliases(config) if aliases else None))

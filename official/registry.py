"""Registries: names (or classes) mapped to what they stand for, filled by
decorators next to the definitions, as the Model Garden's `exp_factory` and
`task_factory` are.

    EXPERIMENTS = Registry('experiment')

    @EXPERIMENTS.register('pie_mnist')
    def pie_mnist():
      return ExperimentConfig(...)

A package whose modules register themselves calls `import_submodules` in its
`__init__.py`, so that a new module is found without editing any list.
"""

import importlib
import pkgutil

from official.errors import ConfigError


class Registry:
  """Keys (names or classes) mapped to values, each key registered once."""

  def __init__(self, kind):
    self.kind = kind
    self._entries = {}

  def register(self, key, value=None):
    """Registers `value` under `key`; without `value`, a decorator that
    registers what it decorates (and returns it unchanged). Registering an
    equal value again (a module imported twice) changes nothing; another
    value raises a ValueError."""
    if value is None:
      return lambda decorated: self.register(key, decorated)
    if key in self._entries and self._entries[key] != value:
      raise ValueError(f'{self.kind} {_text(key)} is registered twice')
    self._entries[key] = value
    return value

  def get(self, key):
    """The value of `key`; a `ConfigError` listing the valid keys if none."""
    if key not in self._entries:
      shown = repr(key) if isinstance(key, str) else _text(key)
      raise ConfigError(f'unknown {self.kind} {shown}; valid names: '
                        f'{", ".join(self.names()) or "(none registered)"}')
    return self._entries[key]

  __getitem__ = get

  def key_named(self, name):
    """The key (a class) whose name is `name`, as JSON records classes; a
    `ConfigError` listing the valid names if none."""
    for key in self._entries:
      if _text(key) == name:
        return key
    raise ConfigError(f'unknown {self.kind} {name!r}; valid names: '
                      f'{", ".join(self.names())}')

  def names(self):
    return sorted(_text(key) for key in self._entries)

  def items(self):
    return self._entries.items()

  def __contains__(self, key):
    return key in self._entries

  def __iter__(self):
    return iter(self._entries)


def _text(key):
  return key if isinstance(key, str) else getattr(key, '__name__', repr(key))


def import_submodules(package_name, package_path):
  """Imports every module of a package (its `__name__`, `__path__`), so that
  each module's registrations run."""
  for module in pkgutil.iter_modules(package_path):
    importlib.import_module(f'{package_name}.{module.name}')

"""Registries: a new module registers itself, and a registered data source
or experiment works through the programs' code paths with no other edit."""

import sys

import numpy as np
import pytest

from official import configs
from official import experiments
from official import registry
from official.data import pipelines
from official.data import source
from official.errors import ConfigError


def test_a_registry_refuses_a_second_entry_and_lists_the_valid_names():
  things = registry.Registry('thing')

  @things.register('b')
  def b():
    return 2

  things.register('a', 1)
  assert b() == 2 and things['b'] is b and things.names() == ['a', 'b']
  things.register('a', 1)  # the same entry again: a module imported twice
  with pytest.raises(ValueError, match="thing a is registered twice"):
    things.register('a', 3)
  with pytest.raises(ConfigError, match="unknown thing 'c'; valid names: a, b"):
    things.get('c')


def test_a_new_module_in_a_package_registers_itself(tmp_path, monkeypatch):
  package = tmp_path / 'recipes_pkg'
  package.mkdir()
  (package / '__init__.py').write_text(
      'from official import registry\n'
      'FOUND = registry.Registry("recipe")\n'
      'registry.import_submodules(__name__, __path__)\n')
  (package / 'new_recipe.py').write_text(
      'from recipes_pkg import FOUND\n'
      'FOUND.register("new_recipe", 42)\n')
  monkeypatch.syspath_prepend(str(tmp_path))
  import recipes_pkg  # pylint: disable=g-import-not-at-top,import-error
  try:
    assert recipes_pkg.FOUND['new_recipe'] == 42
  finally:
    for name in [n for n in sys.modules if n.startswith('recipes_pkg')]:
      del sys.modules[name]


class _Stripes(source.Source):
  """A source of 60 striped 8x8 images in 3 classes, held in memory."""
  help = 'stripes'
  image_shape = (8, 8, 1)
  num_classes = 3

  def arrays(self, data, split):
    labels = np.arange(60, dtype=np.int32) % 3
    images = np.zeros((60, 8, 8, 1), np.uint8)
    for i, label in enumerate(labels):
      images[i, :, label::3] = 255
    return images, labels


def test_a_registered_source_feeds_a_generic_recipe(monkeypatch):
  monkeypatch.setitem(source.SOURCES._entries, 'stripes', _Stripes())  # pylint: disable=protected-access
  data = configs.DataConfig('stripes')
  info = pipelines.describe(data)
  assert (info.image_shape, info.num_classes) == ((8, 8, 1), 3)
  config = experiments.resolve(experiments.override(
      experiments.get_experiment('revnet_ot'),
      {'data.dataset': 'stripes', 'trainer.batch_size': 6}), info)
  assert config.model.num_classes == 3 and config.data.image_shape == (8, 8, 1)
  images, labels = next(iter(pipelines.make_dataset_fn(
      config.data, 0, 6, balanced=True)(None)))
  assert images.shape == (6, 8, 8, 1) and images.dtype.name == 'float32'
  assert sorted(labels.numpy().tolist()) == [0, 0, 1, 1, 2, 2]
  assert set(np.unique(images.numpy())) == {0., 1.}

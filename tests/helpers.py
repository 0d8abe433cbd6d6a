"""What the tests share besides fixtures: the checkout's paths, the check
for the FID reference data, and tiny versions of the experiments."""

import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(REPO, '..', 'shared', 'data')
FID_DATA = os.path.join(SHARED_DATA, 'fid')

# The Inception weights and reference features (about 100 MB) are not part of
# the project; the checks against them run where they lie beside the checkout.
_FID_FILES = ('inception_2015_12_05_fid_weights.npz', 'reference_features.npz',
              'reference_intermediates.npz')
needs_fid_data = pytest.mark.skipif(
    not all(os.path.exists(os.path.join(FID_DATA, name))
            for name in _FID_FILES),
    reason=f'needs the reference Inception weights and features '
           f'({", ".join(_FID_FILES)}) in {os.path.normpath(FID_DATA)}')


def tiny_overrides(name):
  """Model config fields that make an experiment's model small and fast."""
  from official import models
  if name.startswith('pie'):
    return {'conv_hidden': 8, 'dense_hidden': 16, 'steps': 1}
  if name in ('vae_mnist', 'wae_mnist'):
    return {'filters': (8, 16)}
  return {'stages': (models.RevNetStage(4, 1), models.RevNetStage(6, 1))}


def tiny_config(name, items=None, model_overrides=None, dataset=None):
  """The experiment with a tiny model (or `model_overrides`) and the dotted
  override `items`, fitted to its data (`dataset`: a `DatasetInfo`, by
  default that of the experiment's data)."""
  from official import experiments
  from official.data import pipelines
  config = experiments.get_experiment(name)
  model = tiny_overrides(name) if model_overrides is None else model_overrides
  config = experiments.override(config, {
      **{f'model.{key}': value for key, value in model.items()},
      **(items or {})})
  return experiments.resolve(config, dataset or pipelines.describe(config.data))


def train_tiny_run(name, model_dir, steps=1, batch_size=20, init_from=None,
                   model_overrides=None, image_every=1000, steps_per_loop=1,
                   items=None):
  """Trains a small version of an experiment (by default on MNIST) on one
  CPU; returns the trainer (model in `trainer.model`)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import trainers  # pylint: disable=g-import-not-at-top
  extra = {'task.init_examples': batch_size} if 'ot' in name else {}
  config = tiny_config(name, {
      'trainer.batch_size': batch_size, 'trainer.train_steps': steps,
      'trainer.image_every': image_every,
      'trainer.steps_per_loop': steps_per_loop, 'runtime.init_from': init_from,
      **extra, **(items or {})},
                       model_overrides)
  trainer = trainers.Trainer(trainers.build_task(config),
                             tf.distribute.OneDeviceStrategy('/cpu:0'),
                             str(model_dir))
  trainer.run()
  return trainer

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPUs, before TensorFlow initializes, so that MirroredStrategy
# can run two replicas on this machine (the distributed tests need them).
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices('CPU')[0],
    [tf.config.LogicalDeviceConfiguration()] * 2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(REPO, '..', 'shared', 'data')
FID_DATA = os.path.join(SHARED_DATA, 'fid')

# The Inception weights and reference features (about 100 MB) are not part of
# the project; the checks against them run where they lie beside the checkout.
needs_fid_data = pytest.mark.skipif(
    not os.path.exists(os.path.join(FID_DATA, 'reference_features.npz')),
    reason=f'no FID reference data in {FID_DATA}')


# The files that take longest (about 1 to 3 minutes each on a 2-core CPU),
# longest first. `make test` hands whole files to its two workers in
# collection order; starting with these lets the short files fill in at the
# end, so that both workers finish at about the same time.
_LONGEST_FILES = ('test_training.py', 'test_gpu_check.py', 'test_readme.py',
                  'test_preemption.py', 'test_evaluation.py',
                  'test_user_data.py', 'test_shipped_runs.py',
                  'test_export.py', 'test_fid.py')


def pytest_collection_modifyitems(items):
  def rank(item):
    name = os.path.basename(str(item.fspath))
    return (_LONGEST_FILES.index(name) if name in _LONGEST_FILES else
            len(_LONGEST_FILES))
  items.sort(key=rank)  # stable: the rest keep their order


@pytest.fixture(autouse=True)
def _seed():
  import keras
  keras.utils.set_random_seed(1234)


def tiny_overrides(name):
  """Model config fields that make an experiment's model small and fast."""
  from official import models
  if name.startswith('pie'):
    return {'conv_hidden': 8, 'dense_hidden': 16, 'steps': 1}
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
  import trainers
  extra = {'task.init_examples': batch_size} if 'ot' in name else {}
  config = tiny_config(name, {
      'trainer.batch_size': batch_size, 'trainer.train_steps': steps,
      'trainer.image_every': image_every,
      'trainer.steps_per_loop': steps_per_loop, **extra, **(items or {})},
                       model_overrides)
  trainer = trainers.Trainer(trainers.build_task(config),
                             tf.distribute.OneDeviceStrategy('/cpu:0'),
                             str(model_dir), init_from=init_from)
  trainer.run()
  return trainer

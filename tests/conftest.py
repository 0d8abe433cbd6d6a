import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest  # noqa: E402


_DISTRIBUTION = 'invertible-autoencoders'


def _require_installed():
  """Stops the run in one line where the project is not installed: the
  programs the tests start (`python -m official.train`, ...) import it from
  the environment, not from this folder."""
  import importlib.metadata  # pylint: disable=g-import-not-at-top
  try:
    importlib.metadata.distribution(_DISTRIBUTION)
  except importlib.metadata.PackageNotFoundError:
    pytest.exit(f'{_DISTRIBUTION} is not installed in this Python '
                f'({sys.executable}): run `make test`, or first `pip install '
                '-r requirements-test.txt && pip install --no-deps -e .`',
                returncode=4)


def pytest_configure(config):
  """Two logical CPUs, before TensorFlow initializes, so that
  MirroredStrategy can run two replicas on this machine (the distributed
  tests need them). Under `-n`, in the test workers only: the controlling
  process runs no test and would import TensorFlow (seconds of CPU before the
  workers start) for nothing."""
  _require_installed()
  if getattr(config.option, 'numprocesses', None) and not hasattr(
      config, 'workerinput'):
    return
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
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


# Every test file, longest first (beside each, its seconds under `make test`
# on a 2-core CPU, 2026-12-07). `make test` hands whole files to its two
# workers in this order, each worker taking the next file when it is free;
# longest first lets the short files fill in at the end, so that both
# workers finish at about the same time. A file not listed runs last.
_FILES_BY_DURATION = (
    'test_faults.py',  # 170 (one process, 2026-12-07)
    'test_training.py',  # 120
    'test_readme.py',  # 72
    'test_preemption.py',  # 67
    'test_gpu_check.py',  # 61
    'test_export.py',  # 45
    'test_shipped_runs.py',  # 45
    'test_evaluation.py',  # 43
    'test_init_from.py',  # 42
    'test_user_data.py',  # 38
    'test_mixed_precision.py',  # 35
    'test_checkpoints.py',  # 32
    'test_bijector_properties.py',  # 30
    'test_benchmarks.py',  # 28
    'test_models.py',  # 27
    'test_fid.py',  # 26
    'test_allocator.py',  # 25
    'test_celeba_release.py',  # 22
    'test_run_lock.py',  # 21
    'test_pretrained.py',  # 19
    'test_cli.py',  # 19
    'test_tfp_reuse.py',  # 13
    'test_keras_interop.py',  # 9
    'test_install.py',  # 6
    'test_optimal_transport.py',  # 4
    'test_layers.py',  # 2
    'test_bijector_errors.py',  # 0.6
    'test_docs.py',  # 0.4
    'test_mnist_data.py',  # 0.2
)


_RANK = {name: rank for rank, name in enumerate(_FILES_BY_DURATION)}


def pytest_collection_modifyitems(items):
  items.sort(key=lambda item: _RANK.get(os.path.basename(str(item.fspath)),
                                        len(_RANK)))  # stable


@pytest.fixture(scope='session')
def load_pretrained():
  """`load_pretrained(name)`: the shipped SavedModel `pretrained/NAME/1`,
  loaded once per test process (a load restores every exported function:
  seconds of CPU). Tests of what a fresh load does load their own."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  loaded = {}

  def load(name):
    if name not in loaded:
      loaded[name] = tf.saved_model.load(
          os.path.join(REPO, 'pretrained', name, '1'))
    return loaded[name]

  return load


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
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import trainers  # pylint: disable=g-import-not-at-top
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

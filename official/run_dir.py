"""Reading a training run's directory: its experiment and its model."""

import json
import os

__all__ = ['RunDirError', 'read_experiment_info', 'restore_model']


class RunDirError(ValueError):
  """The directory holds no run, another experiment's run, or a bad one."""


def read_experiment_info(experiment, model_dir):
  """The run's `experiment.json`, checked to belong to `experiment`."""
  info_path = os.path.join(model_dir, 'experiment.json')
  if not os.path.exists(info_path):
    raise RunDirError(f'no training run in {model_dir} (experiment.json is '
                      f'missing)')
  with open(info_path) as f:
    info = json.load(f)
  if info['experiment'] != experiment:
    raise RunDirError(f'{model_dir} holds a run of {info["experiment"]!r}, '
                      f'not {experiment!r}')
  return info


def restore_model(experiment, model_dir):
  """Builds the run's model and restores its latest checkpoint."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official import models  # pylint: disable=g-import-not-at-top
  info = read_experiment_info(experiment, model_dir)
  latest = tf.train.latest_checkpoint(os.path.join(model_dir, 'checkpoints'))
  if latest is None:
    raise RunDirError(f'no checkpoint in {model_dir}/checkpoints')
  overrides = models.overrides_from_json(info['model'],
                                         info['model_overrides'])
  model = models.build_model(info['model'], **dict(overrides))
  try:
    tf.train.Checkpoint(model=model).restore(
        latest).expect_partial().assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.OpError) as e:
    raise RunDirError(f'checkpoint {latest} does not fit the model of '
                      f'{experiment}: {str(e).splitlines()[0][:200]}') from e
  return model

"""Reading a training run's directory: its experiment, model and checkpoints."""

import json
import os
import re
import shutil
import sys
import tempfile

from official.errors import RunDirError

__all__ = ['RunDirError', 'checkpoint_prefixes', 'complete_checkpoints',
           'init_weights', 'read_experiment_info', 'read_scalars',
           'recorded_checkpoints', 'restore_model', 'restore_newest',
           'unreadable_error']

_CHECKPOINT_FILE = re.compile(r'(ckpt-(\d+))\.(index|data-\d+-of-\d+)$')


def read_experiment_info(experiment, model_dir):
  """The run's `experiment.json`, checked to belong to `experiment` (any
  experiment for `None`)."""
  info_path = os.path.join(model_dir, 'experiment.json')
  if not os.path.exists(info_path):
    raise RunDirError(f'no training run in {model_dir} (experiment.json is '
                      f'missing)')
  with open(info_path) as f:
    info = json.load(f)
  if experiment is not None and info['experiment'] != experiment:
    raise RunDirError(f'{model_dir} holds a run of experiment '
                      f'{info["experiment"]!r}, not {experiment!r}')
  return info


def read_scalars(model_dir, prefix):
  """The scalars whose tag starts with `prefix` that training wrote to
  MODEL_DIR/train, as {tag: (steps, values)} in step order. A step logged
  again after a resume keeps its last value."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.core.util import event_pb2  # pylint: disable=g-import-not-at-top
  directory = os.path.join(model_dir, 'train')
  paths = sorted(os.path.join(directory, name) for name in (
      os.listdir(directory) if os.path.isdir(directory) else ())
                 if name.startswith('events.out.tfevents'))
  found = {}
  for path in paths:
    for record in tf.data.TFRecordDataset(path):
      event = event_pb2.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.tag.startswith(prefix) and value.HasField('tensor'):
          array = tf.make_ndarray(value.tensor)
          if array.ndim == 0:
            found.setdefault(value.tag, {})[event.step] = float(array)
  return {tag: (np.array(sorted(by_step)),
                np.array([by_step[s] for s in sorted(by_step)]))
          for tag, by_step in sorted(found.items())}


def checkpoint_prefixes(directory):
  """The checkpoints in `directory`, newest (highest step) first.

  Found by their files rather than by the `checkpoint` state file, so that a
  checkpoint whose index file is lost still shows up (and fails to restore).
  """
  if not os.path.isdir(directory):
    return []
  numbers = {int(m.group(2)): m.group(1) for m in map(
      _CHECKPOINT_FILE.match, os.listdir(directory)) if m}
  return [os.path.join(directory, numbers[n])
          for n in sorted(numbers, reverse=True)]


def recorded_checkpoints(directory):
  """The names (`ckpt-N`) that the folder's `checkpoint` state file records,
  or None where it has no readable one.

  `tf.train.CheckpointManager` writes that file atomically and records a
  checkpoint there only once its files are complete.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not os.path.exists(os.path.join(directory, 'checkpoint')):
    return None
  try:
    state = tf.train.get_checkpoint_state(directory)
  except (tf.errors.OpError, ValueError):
    return None
  return {os.path.basename(p) for p in (
      state.all_model_checkpoint_paths if state else ())}


def complete_checkpoints(directory):
  """The checkpoints in `directory` that were written to their end, newest
  first: those the state file records (`recorded_checkpoints`), so that a
  run saving one right now, or killed while saving, has its newest files
  left out. A folder without a state file (checkpoint files copied by hand)
  is taken as it is.
  """
  found = checkpoint_prefixes(directory)
  recorded = recorded_checkpoints(directory)
  if recorded is None:
    return found
  return [p for p in found if os.path.basename(p) in recorded]


def _reason(error):
  lines = str(error).strip().splitlines()
  return f'{type(error).__name__}: {lines[0][:200] if lines else ""}'


# How often a reader beside a live run lists the checkpoints again when the
# run deleted the one it chose (a run keeps its newest few).
_MAX_RESTARTS = 10


def _private_copy(prefix, folder):
  """Copies the files of checkpoint `prefix` into `folder`; returns the
  copy's prefix. Raises FileNotFoundError if they were deleted meanwhile."""
  directory, name = os.path.split(prefix)
  copied = os.path.join(folder, name)
  for entry in os.listdir(directory):
    if entry.startswith(name + '.'):
      shutil.copyfile(os.path.join(directory, entry),
                      os.path.join(folder, entry))
  if not os.path.exists(copied + '.index'):
    raise FileNotFoundError(prefix + '.index')
  return copied


def restore_newest(checkpoint, directory, check, live=False):
  """Restores the newest checkpoint in `directory` that can be read.

  A checkpoint that cannot be read (a truncated data file, a missing index, the
  variables of another model) is reported in one line and skipped; none is
  ever deleted.

  Args:
    checkpoint: a `tf.train.Checkpoint` of built objects.
    directory: the folder of the checkpoints.
    check: called with the restore's load status; raises if it does not fit.
    live: the folder may belong to a run that is writing it right now (a
      reader such as `official.evaluate`): only complete checkpoints are
      read (`complete_checkpoints`), each from a private copy, so that the
      run cannot delete it half-way through the restore (a restore that
      fails part-way leaves the objects bound to that checkpoint); one
      deleted before it was copied is passed over without a warning.

  Returns:
    (the restored prefix or None, [(skipped prefix, reason), ...]).
  """
  skipped, unreadable = [], set()
  for _ in range(_MAX_RESTARTS):
    found = (complete_checkpoints if live else checkpoint_prefixes)(directory)
    for prefix in found:
      if prefix in unreadable:
        continue
      with tempfile.TemporaryDirectory() as scratch:
        try:
          check(checkpoint.restore(
              _private_copy(prefix, scratch) if live else prefix))
        except Exception as e:  # pylint: disable=broad-except
          if live and prefix not in complete_checkpoints(directory):
            break  # deleted by the run since it was listed: list again
          # A damaged file raises anything from OpError to IndexError.
          unreadable.add(prefix)
          skipped.append((prefix, _reason(e)))
          print(f'warning: checkpoint {prefix} cannot be read '
                f'({_reason(e)}); trying an older one', file=sys.stderr,
                flush=True)
          continue
      return prefix, skipped
    else:
      return None, skipped
  return None, skipped


def unreadable_error(directory, skipped):
  """The error for a folder of checkpoints of which none can be read."""
  details = '; '.join(f'{os.path.basename(p)}: {r}' for p, r in skipped)
  return (f'no checkpoint in {directory} can be read '
          f'({details or "there is none"})')


def restore_model(experiment, model_dir):
  """Builds the run's model and restores its newest readable checkpoint
  (`experiment`: checked as `read_experiment_info` does)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official import configs  # pylint: disable=g-import-not-at-top
  from official import models  # pylint: disable=g-import-not-at-top
  info = read_experiment_info(experiment, model_dir)
  model = models.build_model(configs.model_from_json(info))
  directory = os.path.join(model_dir, 'checkpoints')
  restored, skipped = restore_newest(
      tf.train.Checkpoint(model=model), directory,
      lambda status: status.expect_partial().assert_existing_objects_matched(),
      live=True)
  if restored is None:
    raise RunDirError(unreadable_error(directory, skipped))
  return model


def init_weights(model, model_config, path):
  """Gives the built `model` the weights at `path` (Model Garden's
  `init_checkpoint`): a training run's folder (its newest readable
  checkpoint), one of its checkpoints (`.../checkpoints/ckpt-N`), or an
  export (a SavedModel folder `NAME/VERSION`, from `official.serving`).

  `model_config` must be the one the weights were trained with.

  Raises:
    RunDirError: naming the path and the first difference, or what is
      missing.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official import configs  # pylint: disable=g-import-not-at-top
  from official import serving  # pylint: disable=g-import-not-at-top
  if tf.saved_model.contains_saved_model(path):
    try:
      serving.restore_from_export(model, path)
    except serving.ExportError as e:
      raise RunDirError(f'--init_from {e}') from e
    return
  if os.path.isdir(path):
    run, prefix = path, None
  elif os.path.exists(path + '.index'):
    run, prefix = os.path.dirname(os.path.dirname(path)), path
  else:
    raise RunDirError(f'--init_from {path}: neither a training run, a '
                      'checkpoint nor an export')
  info_path = os.path.join(run, 'experiment.json')
  if not os.path.exists(info_path):
    raise RunDirError(f'--init_from {path}: no experiment.json in {run}, so '
                      'the model config cannot be checked')
  with open(info_path) as f:
    info = json.load(f)
  difference = configs.first_difference(
      configs.model_from_json(info), model_config)
  if difference:
    raise RunDirError(f'--init_from {path}: another model config ({difference})')
  checkpoint = tf.train.Checkpoint(model=model)
  check = lambda status: status.expect_partial().assert_existing_objects_matched()
  if prefix:
    try:
      check(checkpoint.restore(prefix))
    except Exception as e:  # pylint: disable=broad-except
      raise RunDirError(f'--init_from {prefix} cannot be read '
                        f'({_reason(e)})') from e
    return
  directory = os.path.join(run, 'checkpoints')
  restored, skipped = restore_newest(checkpoint, directory, check, live=True)
  if restored is None:
    raise RunDirError(f'--init_from: {unreadable_error(directory, skipped)}')

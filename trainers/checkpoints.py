"""The training run's checkpoint manager: a save that fails leaves nothing.

TensorFlow writes checkpoint N into `ckpt-N_temp/`, merges it into
`ckpt-N.index` and `ckpt-N.data-*`, then records it in the `checkpoint` state
file. A full disk or a missing permission can stop it at any of these, and
TensorFlow leaves the pieces. Here a failed save removes them (a checkpoint
already recorded in the state file is complete and kept) and raises a
`files.WriteError` naming the checkpoint; the newest complete checkpoint is
then the one that a new run resumes from.
"""

import os
import shutil

import tensorflow as tf

from official import files
from official import run_dir

__all__ = ['CheckpointManager']


def _remove_pieces(prefix):
  """Removes what a failed save of `prefix` left, unless it completed."""
  directory, name = os.path.split(prefix)
  shutil.rmtree(prefix + '_temp', ignore_errors=True)
  if (os.path.exists(prefix + '.index') and
      name in (run_dir.recorded_checkpoints(directory) or ())):
    return
  for entry in os.listdir(directory):
    if entry.startswith(name + '.'):
      os.remove(os.path.join(directory, entry))


class CheckpointManager(tf.train.CheckpointManager):
  """`tf.train.CheckpointManager` whose failed `save` cleans up after itself
  and raises `files.WriteError` ('cannot write DIR/ckpt-N: No space left on
  device')."""

  def save(self, checkpoint_number, check_interval=True, options=None):
    prefix = f'{self._prefix}-{int(checkpoint_number)}'
    try:
      with files.writing(prefix):
        return super().save(checkpoint_number, check_interval, options)
    except files.WriteError:
      _remove_pieces(prefix)
      raise

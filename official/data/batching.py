"""Which examples make each batch, and which rows each replica gets.

Every pipeline is a function of (seed, step): the global batch of step `s` is
the same whatever the number of replicas or workers, and a resumed run starts
at the batch where it stopped. Replica `k` of a step gets rows
`[k * local_batch, (k + 1) * local_batch)` of the global batch. The data
sources (`official/data/source.py`) build their `tf.data` pipelines from the
pieces here: an `order` (uniform or class-balanced) and `array_dataset` for
images held in memory, `file_dataset` for images read one file at a time.
"""

import numpy as np
import tensorflow as tf

from official.data import pixels
from official.errors import ConfigError
from official.errors import DataError


def map_traced(dataset, fn, **kwargs):
  """`dataset.map(fn, **kwargs)` with `fn` traced as written: the map
  functions here branch on Python values only, so autograph's conversion of
  them (about 0.1 s of CPU per dataset made) is skipped."""
  return dataset.map(tf.autograph.experimental.do_not_convert(fn), **kwargs)


def pipeline(input_context):
  """(number of input pipelines, this pipeline's index)."""
  if input_context is None:
    return 1, 0
  return input_context.num_input_pipelines, input_context.input_pipeline_id


def replica_rows(input_context, global_batch):
  """(replicas of this pipeline, first global replica index, local batch)."""
  replicas = input_context.num_replicas_in_sync if input_context else 1
  pipelines, pipeline_id = pipeline(input_context)
  if global_batch % replicas:
    raise not_divisible(global_batch, replicas)
  per_pipeline = replicas // pipelines
  return per_pipeline, pipeline_id * per_pipeline, global_batch // replicas


def _shuffled(positions, count, seed):
  """Entries `positions` of the concatenated per-epoch permutations of
  range(count); `seed(epoch)` seeds each epoch's permutation."""
  epoch, index = positions // count, positions % count
  # A batch spans at most two epochs.
  permuted = [tf.random.experimental.index_shuffle(
      index, seed=seed(e), max_index=count - 1)
              for e in (epoch[0], epoch[0] + 1)]
  return tf.where(epoch == epoch[0], permuted[0], permuted[1])


def _uniform_order(count, seed, global_batch):
  """Step -> the global batch's indices: one shuffle of all examples per
  epoch."""
  seed = tf.cast(seed, tf.int64)
  return lambda step: _shuffled(
      step * global_batch + tf.range(global_batch, dtype=tf.int64), count,
      lambda epoch: tf.stack([seed, epoch]))


def not_a_multiple(global_batch, classes):
  return ConfigError(f'batch_size {global_batch} is not a multiple '
                     f'of the {classes} classes, as class-balanced '
                     'batches need')


def not_divisible(global_batch, replicas):
  return ConfigError(f'batch_size {global_batch} is not divisible by '
                     f'the {replicas} replicas')


def unlabelled(dataset):
  return DataError(f'class-balanced batches need class labels, which '
                   f'{dataset} does not have')


def _balanced_order(labels, seed, global_batch):
  """Step -> the global batch's indices: `global_batch / classes` examples
  of each class in turn, each class shuffled per epoch of its own."""
  classes = int(labels.max()) + 1
  if global_batch % classes:
    raise not_a_multiple(global_batch, classes)
  per_class = global_batch // classes
  members = [np.flatnonzero(labels == c) for c in range(classes)]
  empty = [c for c, rows in enumerate(members) if not len(rows)]
  if empty:
    raise DataError(f'class-balanced batches need examples of every class; '
                    f'class {empty[0]} of 0..{classes - 1} has none')
  seed = tf.cast(seed, tf.int64)

  def step_indices(step):
    positions = step * per_class + tf.range(per_class, dtype=tf.int64)
    return tf.concat([tf.gather(rows, _shuffled(
        positions, len(rows),
        lambda epoch, c=c: tf.stack([seed, epoch * classes + c])))
                      for c, rows in enumerate(members)], 0)

  return step_indices


def _batch_indices(step_indices, global_batch, start_step, input_context):
  """A dataset of this pipeline's local batches: its replicas' rows of
  `step_indices(step)`, from `start_step` on."""
  per_pipeline, first_replica, local = replica_rows(input_context,
                                                     global_batch)

  def indices(t):
    # Batch t of this pipeline: step t // per_pipeline, replica t % ...
    step = start_step + t // per_pipeline
    start = (first_replica + t % per_pipeline) * local
    return step_indices(step)[start:start + local]

  return map_traced(tf.data.Dataset.range(2**62), indices), local


def no_labels(count):
  return np.full(count, -1, np.int32)


def array_dataset(images, labels, step_indices, target, global_batch,
                  start_step, input_context):
  """Batches of uint8 `images` in memory (and their `labels`, -1 for none)
  by `step_indices`, fitted to `target` (size, channels)."""
  batches, _ = _batch_indices(step_indices, global_batch, start_step,
                              input_context)
  images = tf.constant(images)
  labels = tf.constant(labels)
  return map_traced(
      batches, lambda i: (pixels.fit_images(tf.gather(images, i), *target),
                          tf.gather(labels, i)),
      num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def file_dataset(load, paths, labels, step_indices, global_batch, start_step,
                 input_context):
  """Batches of `load(path)` (one image) by `step_indices` over `paths`."""
  batches, local = _batch_indices(step_indices, global_batch, start_step,
                                  input_context)
  paths, labels = tf.constant(paths), tf.constant(labels)
  examples = map_traced(
      batches.unbatch(),
      lambda i: (load(tf.gather(paths, i)), tf.gather(labels, i)),
      num_parallel_calls=tf.data.AUTOTUNE)
  return examples.batch(local, drop_remainder=True).prefetch(2)


def order(labels, count, seed, global_batch, balanced, dataset):
  """Step -> the global batch's indices into `count` examples: uniform, or
  class-balanced by `labels` (`dataset`: its name, for the error)."""
  if not balanced:
    return _uniform_order(count, seed, global_batch)
  if labels is None or labels.min(initial=0) < 0:
    raise unlabelled(dataset)
  return _balanced_order(labels, seed, global_batch)

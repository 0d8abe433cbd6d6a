"""Input pipelines: deterministic, resumable, split across replicas.

Every pipeline is a function of (seed, step): the global batch of step `s` is
the same whatever the number of replicas or workers, and a resumed run starts
at the batch where it stopped. Replica `k` of a step gets rows
`[k * local_batch, (k + 1) * local_batch)` of the global batch.
"""

import dataclasses
import os
import re

import numpy as np
import tensorflow as tf

from official import allocator
from official.data import celeba_release
from official.data.mnist import DataError
from official.data.mnist import load_mnist

__all__ = ['DATASETS', 'DataError', 'InputSpec', 'celeba_preprocess',
           'check_input_spec', 'data_error_in', 'distributed_iterator',
           'load_arrays', 'make_dataset_fn']

# name: (image shape, number of classes, kind)
DATASETS = {
    'mnist_bundled': ((28, 28, 1), 10, 'arrays'),
    'mnist': ((28, 28, 1), 10, 'arrays'),
    'celeb_a': ((64, 64, 3), 0, 'stream'),
    'celeb_a_files': ((64, 64, 3), 0, 'files'),
}

# WAE's close crop of the 178x218 CelebA images: the central 140x140.
_CELEBA_CROP = 140


@dataclasses.dataclass(frozen=True)
class InputSpec:
  dataset: str
  data_dir: str = None
  split: str = 'train'


def check_input_spec(spec):
  if spec.dataset not in DATASETS:
    raise DataError(f'unknown dataset {spec.dataset!r}; use one of '
                    f'{", ".join(sorted(DATASETS))}')
  if spec.data_dir and not os.path.isdir(spec.data_dir):
    raise DataError(f'data_dir does not exist: {spec.data_dir}')
  if DATASETS[spec.dataset][2] == 'files' and not spec.data_dir:
    raise DataError(f'--dataset={spec.dataset} reads the CelebA release '
                    f'files: give their folder as --data_dir')


def load_arrays(spec):
  """(images uint8 NHWC, labels int32) of an in-memory dataset."""
  check_input_spec(spec)
  if spec.dataset == 'mnist_bundled':
    images, labels = load_mnist(spec.split, spec.data_dir)
  elif spec.dataset == 'mnist':
    import tensorflow_datasets as tfds
    try:
      data = tfds.load('mnist', split=spec.split, data_dir=spec.data_dir,
                       batch_size=-1, as_supervised=True,
                       download=spec.data_dir is None)
    except Exception as e:  # TFDS raises many kinds; report one line.
      raise DataError(f'could not load TFDS mnist ({type(e).__name__}: '
                      f'{str(e).splitlines()[0]}); --dataset=mnist_bundled '
                      f'needs no network') from e
    images, labels = (np.asarray(t) for t in tfds.as_numpy(data))
  else:
    raise DataError(f'{spec.dataset} is streamed, not loaded into memory')
  if images.ndim == 3:
    images = images[..., None]
  return images, labels.astype(np.int32)


def celeba_preprocess(image):
  """WAE close crop (central 140x140) resized to 64x64 with antialiasing;
  uint8 HWC in, float32 in [0, 1] out."""
  shape = tf.shape(image)
  top, left = (shape[0] - _CELEBA_CROP) // 2, (shape[1] - _CELEBA_CROP) // 2
  crop = image[top:top + _CELEBA_CROP, left:left + _CELEBA_CROP, :]
  crop = tf.cast(crop, tf.float32) / 255.
  return tf.clip_by_value(
      tf.image.resize(crop, (64, 64), method='area', antialias=True), 0., 1.)


def _pipeline(input_context):
  """(number of input pipelines, this pipeline's index)."""
  if input_context is None:
    return 1, 0
  return input_context.num_input_pipelines, input_context.input_pipeline_id


def _replica_rows(input_context, global_batch):
  """(replicas of this pipeline, first global replica index, local batch)."""
  replicas = input_context.num_replicas_in_sync if input_context else 1
  pipelines, pipeline_id = _pipeline(input_context)
  if global_batch % replicas:
    raise ValueError(f'batch_size {global_batch} is not divisible by the '
                     f'{replicas} replicas')
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


def _balanced_order(labels, seed, global_batch):
  """Step -> the global batch's indices: `global_batch / classes` examples
  of each class in turn, each class shuffled per epoch of its own."""
  classes = int(labels.max()) + 1
  if global_batch % classes:
    raise ValueError(f'batch_size {global_batch} is not a multiple of the '
                     f'{classes} classes, as class-balanced batches need')
  per_class = global_batch // classes
  members = [np.flatnonzero(labels == c) for c in range(classes)]
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
  per_pipeline, first_replica, local = _replica_rows(input_context,
                                                     global_batch)

  def indices(t):
    # Batch t of this pipeline: step t // per_pipeline, replica t % ...
    step = start_step + t // per_pipeline
    start = (first_replica + t % per_pipeline) * local
    return step_indices(step)[start:start + local]

  return tf.data.Dataset.range(2**62).map(indices), local


def _array_dataset(images, labels, order, global_batch, start_step,
                   input_context):
  batches, _ = _batch_indices(order, global_batch, start_step, input_context)
  images = tf.constant(images)
  labels = tf.constant(labels)
  return batches.map(
      lambda i: (tf.cast(tf.gather(images, i), tf.float32) / 255.,
                 tf.gather(labels, i)),
      num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def _release_dataset(release, names, order, global_batch, start_step,
                     input_context):
  batches, local = _batch_indices(order, global_batch, start_step,
                                  input_context)
  names = tf.constant(names)

  def load(index):
    data = tf.numpy_function(release.read, [tf.gather(names, index)],
                             tf.string, stateful=False)
    image = tf.io.decode_jpeg(data, channels=3)
    return celeba_preprocess(image), tf.zeros([], tf.int32)

  return batches.unbatch().map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(
      local, drop_remainder=True).prefetch(2)


def _stream_dataset(spec, seed, global_batch, start_step, input_context):
  import tensorflow_datasets as tfds
  local = _replica_rows(input_context, global_batch)[2]
  try:
    data = tfds.load(spec.dataset, split=spec.split, data_dir=spec.data_dir,
                     shuffle_files=False)
  except Exception as e:  # TFDS raises many kinds; report one line.
    raise DataError(
        f'could not load TFDS {spec.dataset} ({type(e).__name__}: '
        f'{str(e).splitlines()[0][:200]}); TFDS downloads CelebA from Google '
        f'Drive, which often fails: with the official release files use '
        f'--dataset=celeb_a_files --data_dir=FOLDER') from e
  pipelines, pipeline_id = _pipeline(input_context)
  data = data.map(lambda ex: (celeba_preprocess(ex['image']), tf.zeros(
      [], tf.int32)), num_parallel_calls=tf.data.AUTOTUNE)
  # Step s uses batches [s * pipelines, (s + 1) * pipelines): one per pipeline.
  data = data.shuffle(10_000, seed=seed).repeat().batch(
      global_batch // pipelines, drop_remainder=True)
  data = data.skip(start_step * pipelines).shard(pipelines, pipeline_id)
  return data.unbatch().batch(local, drop_remainder=True).prefetch(2)


def make_dataset_fn(spec, seed, global_batch, start_step=0, balanced=False):
  """A `fn(input_context) -> tf.data.Dataset` of (images in [0, 1], labels)
  for `strategy.distribute_datasets_from_function`.

  `balanced`: every global batch holds equally many examples of each class
  (labelled datasets only).
  """
  check_input_spec(spec)
  kind = DATASETS[spec.dataset][2]
  if balanced and not DATASETS[spec.dataset][1]:
    raise ValueError(f'class-balanced batches need class labels, which '
                     f'{spec.dataset} does not have')
  if kind == 'arrays':
    images, labels = load_arrays(spec)
    order = (_balanced_order(labels, seed, global_batch) if balanced
             else _uniform_order(len(images), seed, global_batch))
    return lambda ctx: _array_dataset(images, labels, order, global_batch,
                                      start_step, ctx)
  if kind == 'files':
    release = celeba_release.Release(spec.data_dir)
    names = release.names(spec.split)
    order = _uniform_order(len(names), seed, global_batch)
    return lambda ctx: _release_dataset(release, names, order, global_batch,
                                        start_step, ctx)
  return lambda ctx: _stream_dataset(spec, seed, global_batch, start_step, ctx)


def distributed_iterator(strategy, spec, seed, global_batch, start_step=0,
                         balanced=False):
  """The iterator of `strategy`'s distributed dataset from step `start_step`.

  Creating it makes TensorFlow freeze glibc's malloc thresholds, which are set
  back here (`official/allocator.py`): the training loop's only such dataset
  is made by this function.
  """
  iterator = iter(strategy.distribute_datasets_from_function(
      make_dataset_fn(spec, seed, global_batch, start_step, balanced)))
  allocator.restore_malloc_thresholds()
  return iterator


def data_error_in(error):
  """The `DataError` behind a `tf.errors.OpError` raised while a pipeline
  made its next batch (a `DataError` of a pipeline function, or any failure
  of the iterator such as a JPEG that does not decode); None otherwise."""
  message = error.message or ''
  raised = re.search(r'DataError: (.*)', message)
  if raised:
    return DataError(raised.group(1))
  if 'IteratorGetNext' in message:
    first = re.sub(r'\{\{[^}]*\}\}\s*', '', message).strip().splitlines()
    return DataError(f'the input pipeline failed: {first[0] if first else ""}')
  return None

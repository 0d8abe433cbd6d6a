"""Input pipelines: deterministic, resumable, split across replicas.

Every pipeline is a function of (seed, step): the global batch of step `s` is
the same whatever the number of replicas or workers, and a resumed run starts
at the batch where it stopped. Replica `k` of a step gets rows
`[k * local_batch, (k + 1) * local_batch)` of the global batch.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from official import allocator
from official.data.mnist import DataError
from official.data.mnist import load_mnist

__all__ = ['DATASETS', 'DataError', 'InputSpec', 'celeba_preprocess',
           'check_input_spec', 'distributed_iterator', 'load_arrays',
           'make_dataset_fn']

# name: (image shape, number of classes, kind)
DATASETS = {
    'mnist_bundled': ((28, 28, 1), 10, 'arrays'),
    'mnist': ((28, 28, 1), 10, 'arrays'),
    'celeb_a': ((64, 64, 3), 0, 'stream'),
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
  height, width = image.shape[0], image.shape[1]
  top, left = (height - _CELEBA_CROP) // 2, (width - _CELEBA_CROP) // 2
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


def _array_dataset(images, labels, seed, global_batch, start_step,
                   input_context):
  per_pipeline, first_replica, local = _replica_rows(input_context,
                                                     global_batch)
  count = len(images)
  images = tf.constant(images)
  labels = tf.constant(labels)

  def rows(t):
    # Batch t of this pipeline: step t // per_pipeline, replica t % ...
    step = start_step + t // per_pipeline
    replica = first_replica + t % per_pipeline
    positions = step * global_batch + replica * local + tf.range(
        local, dtype=tf.int64)
    epoch, index = positions // count, positions % count
    # A batch spans at most two epochs; each epoch has its own permutation.
    permuted = [tf.random.experimental.index_shuffle(
        index, seed=tf.stack([tf.cast(seed, tf.int64), e]),
        max_index=count - 1) for e in (epoch[0], epoch[0] + 1)]
    shuffled = tf.where(epoch == epoch[0], permuted[0], permuted[1])
    return (tf.cast(tf.gather(images, shuffled), tf.float32) / 255.,
            tf.gather(labels, shuffled))

  return tf.data.Dataset.range(2**62).map(
      rows, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def _stream_dataset(spec, seed, global_batch, start_step, input_context):
  import tensorflow_datasets as tfds
  local = _replica_rows(input_context, global_batch)[2]
  try:
    data = tfds.load(spec.dataset, split=spec.split, data_dir=spec.data_dir,
                     shuffle_files=False, download=spec.data_dir is None)
  except Exception as e:  # TFDS raises many kinds; report one line.
    raise DataError(f'could not load TFDS {spec.dataset} ({type(e).__name__}: '
                    f'{str(e).splitlines()[0]})') from e
  pipelines, pipeline_id = _pipeline(input_context)
  data = data.map(lambda ex: (celeba_preprocess(ex['image']), tf.zeros(
      [], tf.int32)), num_parallel_calls=tf.data.AUTOTUNE)
  # Step s uses batches [s * pipelines, (s + 1) * pipelines): one per pipeline.
  data = data.shuffle(10_000, seed=seed).repeat().batch(
      global_batch // pipelines, drop_remainder=True)
  data = data.skip(start_step * pipelines).shard(pipelines, pipeline_id)
  return data.unbatch().batch(local, drop_remainder=True).prefetch(2)


def make_dataset_fn(spec, seed, global_batch, start_step=0):
  """A `fn(input_context) -> tf.data.Dataset` of (images in [0, 1], labels)
  for `strategy.distribute_datasets_from_function`."""
  check_input_spec(spec)
  if DATASETS[spec.dataset][2] == 'arrays':
    images, labels = load_arrays(spec)
    return lambda ctx: _array_dataset(images, labels, seed, global_batch,
                                      start_step, ctx)
  return lambda ctx: _stream_dataset(spec, seed, global_batch, start_step, ctx)


def distributed_iterator(strategy, spec, seed, global_batch, start_step=0):
  """The iterator of `strategy`'s distributed dataset from step `start_step`.

  Creating it makes TensorFlow freeze glibc's malloc thresholds, which are set
  back here (`official/allocator.py`): the training loop's only such dataset
  is made by this function.
  """
  iterator = iter(strategy.distribute_datasets_from_function(
      make_dataset_fn(spec, seed, global_batch, start_step)))
  allocator.restore_malloc_thresholds()
  return iterator

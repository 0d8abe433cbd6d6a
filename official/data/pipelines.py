"""Input pipelines: deterministic, resumable, split across replicas, from
any data source.

`describe(data)` says what a dataset holds, `make_dataset_fn` gives the
`tf.data` pipeline of a split for `strategy.distribute_datasets_from_function`
and `load_arrays` its images in memory. Each `--dataset` name is served by a
source (`official/data/source.py`; one module per source: `mnist.py`,
`tfds.py`, `image_folder.py`, `npz.py`, `celeba_release.py`); the batches
are made as `official/data/batching.py` says.
"""

import re

from official.data import batching
from official.data import source
from official.data.celeba_release import crop_and_resize as celeba_preprocess
from official.data.pixels import fit_images
from official.data.source import DatasetInfo
from official.errors import DataError

__all__ = ['DATASETS', 'DataError', 'DatasetInfo', 'celeba_preprocess',
           'check_batches', 'data_error_in', 'describe',
           'distributed_iterator', 'fit_images', 'held_out', 'load_arrays',
           'make_dataset_fn']

# The registered dataset names and their sources (any other name is TFDS's).
DATASETS = source.SOURCES


def describe(data):
  """The `DatasetInfo` of `data` (a `DataConfig`), read from the data where
  its source does not fix it.

  Raises:
    DataError: an unknown name, a missing or unreadable data_dir, or data
      that does not hold images.
  """
  data_source = source.for_dataset(data.dataset)
  data_source.check(data)
  return data_source.describe(data)


def load_arrays(data, split='train'):
  """(images uint8 NHWC, labels int32 or None) of an in-memory dataset: the
  bundled MNIST, an .npz, or a TFDS dataset small enough to hold."""
  data_source = source.for_dataset(data.dataset)
  data_source.check(data)
  return data_source.arrays(data, split)


def _target(data):
  """(size, channels) the pipeline gives `data`'s images: its own when set,
  else the dataset's fixed shape."""
  if data.image_size and data.channels:
    return tuple(data.image_size), data.channels
  shape = describe(data).image_shape
  if shape[0] is None and not data.image_size:
    raise DataError(f'the images of {data.dataset} differ in size: set '
                    f'image_size')
  return tuple(data.image_size or shape[:2]), data.channels or shape[2]


def check_batches(data, global_batch, replicas, balanced):
  """Raises, before any data is read or anything is built, the
  `official.errors.Error` that the pipeline of `global_batch` over
  `replicas` would raise later:
  a batch that the replicas cannot split evenly, class-balanced batches of
  a dataset without labels, or a batch that is not a multiple of the
  classes."""
  if global_batch % replicas:
    raise batching.not_divisible(global_batch, replicas)
  if not balanced:
    return
  classes = describe(data).num_classes
  if not classes:
    raise batching.unlabelled(data.dataset)
  if global_batch % classes:
    raise batching.not_a_multiple(global_batch, classes)


def make_dataset_fn(data, seed, global_batch, start_step=0, balanced=False,
                    split='train'):
  """A `fn(input_context) -> tf.data.Dataset` of (images in [0, 1], labels;
  -1 where there are none) for `strategy.distribute_datasets_from_function`.

  Args:
    data: a `DataConfig`; images are given its `image_size` and `channels`
      (by default the dataset's own).
    seed, global_batch, start_step: the batch of step `s` is a function of
      (seed, s); the first batch is that of `start_step`.
    balanced: every global batch holds equally many examples of each class
      (labelled datasets only).
    split: 'train' or 'test' (the held-out split; `describe` says which).
  """
  data_source = source.for_dataset(data.dataset)
  data_source.check(data)
  if balanced and data_source.num_classes == 0:
    raise batching.unlabelled(data.dataset)
  return data_source.dataset_fn(data, split, _target(data), seed,
                                global_batch, start_step, balanced)


def held_out(data, count, seed=0):
  """(images, labels) numpy arrays of `count` held-out images of `data` in a
  seeded order, or of all of them when the split has fewer."""
  known = describe(data).num_examples or {}
  count = min(count, known.get('test', count))
  images, labels = next(iter(make_dataset_fn(data, seed, count,
                                             split='test')(None).take(1)))
  return images.numpy(), labels.numpy()


def distributed_iterator(strategy, data, seed, global_batch, start_step=0,
                         balanced=False):
  """The iterator of `strategy`'s distributed dataset from step `start_step`.

  Creating it makes TensorFlow freeze glibc's malloc thresholds; the
  training loop sets them back (`official/allocator.py`).
  """
  return iter(strategy.distribute_datasets_from_function(
      make_dataset_fn(data, seed, global_batch, start_step, balanced)))


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

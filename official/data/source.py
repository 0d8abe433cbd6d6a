"""What every data source provides, and the registry of dataset names.

A data source is one module of `official/data/` with a `Source` subclass,
registered under the `--dataset` names it serves:

    class Npz(source.Source):
      help = 'a NumPy .npz with uint8 images (and labels)'
      data_dir_help = 'the .npz file'
      ...

    source.register('npz', Npz())

It answers three questions: `describe` (what the data holds: a
`DatasetInfo`), `arrays` (the uint8 images and labels of a split, for the
data-dependent initializations and in-memory pipelines) and `dataset_fn`
(the `tf.data` pipeline of one split, built from `official.data.batching`).
Pixels leave a source as float32 in [0, 1] (`official.data.pixels`).
"""

import dataclasses
import os

from official.data import batching
from official.errors import DataError
from official.registry import Registry

__all__ = ['DatasetInfo', 'SOURCES', 'Source', 'for_dataset', 'register',
           'register_fallback']


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What a dataset holds, as its source's `describe` finds it.

  `image_shape` is (H, W, C) of its images, with H and W None when they
  differ in size; C is 3 if any image is in colour.
  """
  name: str
  image_shape: tuple
  num_classes: int
  class_names: tuple = ()
  num_examples: dict = None
  held_out: str = 'the test split'
  why_unlabelled: str = ''
  sizes_seen: str = ''
  notes: tuple = ()
  channel_counts: dict = None  # channels -> images, where they were read

  def conversions(self, channels):
    """A line counting the images that are converted to `channels`, or ''."""
    counts = self.channel_counts or {}
    other = sum(n for c, n in counts.items() if c != channels)
    if not other:
      return ''
    kind = 'grayscale' if channels == 1 else 'RGB'
    return (f'converting {other:,} of {sum(counts.values()):,} images to '
            f'{kind}')


class Source:
  """One way of reading images. Subclasses set the class attributes and
  override `describe`, `arrays` and, for data not held in memory,
  `dataset_fn`."""

  # One line for `--dataset`'s help.
  help = ''
  # What `--data_dir` names for this source; '' when it needs none.
  data_dir_help = ''
  # Whether `--data_dir` is a file (else a folder).
  data_dir_is_file = False
  # The image shape and number of classes where they are fixed (None: read
  # from the data by `describe`).
  image_shape = None
  num_classes = None

  def check(self, data):
    """Raises a `DataError` for a missing or wrong `data.data_dir`."""
    if self.data_dir_help and not data.data_dir:
      raise DataError(f'--dataset={data.dataset} needs --data_dir: '
                      f'{self.data_dir_help}')
    if data.data_dir and not os.path.exists(data.data_dir):
      raise DataError(f'data_dir does not exist: {data.data_dir}')
    if data.data_dir and not self.data_dir_is_file and not os.path.isdir(
        data.data_dir):
      raise DataError(f'data_dir is not a folder: {data.data_dir}')

  def describe(self, data):
    """The `DatasetInfo` of `data` (a `DataConfig`)."""
    return DatasetInfo(data.dataset, self.image_shape, self.num_classes)

  def in_memory(self, data):
    """Whether `arrays` holds the data (exact class-balanced batches)."""
    del data
    return True

  def arrays(self, data, split):
    """(images uint8 NHWC, labels int32 or None) of `split`."""
    raise NotImplementedError(f'{type(self).__name__} is not held in memory')

  def dataset_fn(self, data, split, target, seed, global_batch, start_step,
                 balanced):
    """`fn(input_context) -> tf.data.Dataset` of (images, labels) batches
    of `split` fitted to `target` (size, channels); the in-memory pipeline
    unless a source overrides it."""
    images, labels = self.arrays(data, split)
    order = batching.order(labels, len(images), seed, global_batch, balanced,
                           data.dataset)
    labels = batching.no_labels(len(images)) if labels is None else labels
    return lambda context: batching.array_dataset(
        images, labels, order, target, global_batch, start_step, context)


SOURCES = Registry('dataset')
_fallback = []


def register(name, source):
  """Serves `--dataset=name` with `source` (a `Source`)."""
  SOURCES.register(name, source)


def register_fallback(source):
  """Serves every name that no source registered (TFDS's datasets)."""
  _fallback[:] = [source]


def for_dataset(name):
  """The source of dataset `name`."""
  return SOURCES[name] if name in SOURCES or not _fallback else _fallback[0]

"""TensorFlow Datasets: `mnist`, `celeb_a` (the WAE crop), and any other
TFDS image dataset by its name (`fashion_mnist`, `cifar10`, ...).

Datasets up to 2 GiB of pixels are read into memory (exact class-balanced
batches, resumes without skipping); larger ones, and `celeb_a`, are streamed:
a seeded shuffle, and `skip` to a resumed step.
"""

import numpy as np
import tensorflow as tf

from official.data import batching
from official.data import celeba_release
from official.data import pixels
from official.data import source
from official.errors import DataError

_IN_MEMORY_BYTES = 2 << 30


def _builder(data):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    return tfds.builder(data.dataset, data_dir=data.data_dir)
  except Exception as e:  # TFDS raises many kinds; report one line.
    raise DataError(f'unknown dataset {data.dataset!r}: neither one of '
                    f'{", ".join(source.SOURCES.names())} nor a TFDS dataset '
                    f'({type(e).__name__})') from e


def _features(builder):
  """(image feature name, (H, W, C), number of classes) of a TFDS builder."""
  features = builder.info.features
  image = next((k for k in ('image', 'img') if k in features), None)
  if image is None:
    raise DataError(f'TFDS {builder.name} has no image feature (its '
                    f'features: {", ".join(features)})')
  label = features['label'] if 'label' in features else None
  classes = getattr(label, 'num_classes', 0) or 0
  return image, tuple(features[image].shape), classes


def _test_split(builder):
  splits = set(builder.info.splits.keys())
  return 'validation' if splits and 'test' not in splits and (
      'validation' in splits) else 'test'


class Tfds(source.Source):
  """A TFDS image dataset. `image_shape` and `num_classes` given: known
  without asking TFDS; `crop`: the function that fits a uint8 image to
  (size, channels) when streamed (default `pixels.fit_images`); `streamed`:
  never held in memory; `load_hint`: added to a failed load's message."""

  help = 'any TFDS image dataset by its name'

  def __init__(self, help_text=None, image_shape=None, num_classes=None,
               crop=None, streamed=False, load_hint=''):
    self.help = help_text or self.help
    self.image_shape, self.num_classes = image_shape, num_classes
    self._crop = crop or pixels.fit_images
    self._streamed = streamed
    self._load_hint = load_hint

  def describe(self, data):
    if self.image_shape is not None:
      return super().describe(data)
    builder = _builder(data)
    _, shape, classes = _features(builder)
    return source.DatasetInfo(data.dataset, shape, classes, (), None,
                              f'the {_test_split(builder)} split',
                              ' (no ClassLabel feature named label)')

  def in_memory(self, data):
    if self._streamed:
      return False
    builder = _builder(data)
    _, shape, _ = _features(builder)
    if None in shape:
      return False
    examples = sum(s.num_examples for s in builder.info.splits.values())
    return examples * int(np.prod(shape)) <= _IN_MEMORY_BYTES

  def _load(self, data, split):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    try:
      return tfds.load(data.dataset, split=split, data_dir=data.data_dir,
                       shuffle_files=False)
    except Exception as e:  # TFDS raises many kinds; report one line.
      raise DataError(f'could not load TFDS {data.dataset} '
                      f'({type(e).__name__}: {str(e).splitlines()[0][:200]})'
                      f'{self._load_hint}') from e

  def _split_features(self, data, split):
    """(the split's TFDS name, image feature, number of classes)."""
    if self._streamed and self.image_shape is not None:
      return split, 'image', self.num_classes
    builder = _builder(data)
    image, _, classes = _features(builder)
    return (_test_split(builder) if split == 'test' else split), image, classes

  def arrays(self, data, split):
    split, image, classes = self._split_features(data, split)
    batches = batching.map_traced(
        self._load(data, split),
        lambda ex: (ex[image], ex['label'] if classes else
                    tf.constant(-1, tf.int64))).batch(10_000)
    images, labels = [], []
    for x, y in batches.as_numpy_iterator():
      images.append(x)
      labels.append(y)
    if not images:
      raise DataError(f'TFDS {data.dataset} has no images in split {split}')
    images = np.concatenate(images)
    labels = np.concatenate(labels).astype(np.int32) if classes else None
    return (images[..., None] if images.ndim == 3 else images), labels

  def dataset_fn(self, data, split, target, seed, global_batch, start_step,
                 balanced):
    if self.in_memory(data):
      return super().dataset_fn(data, split, target, seed, global_batch,
                                start_step, balanced)
    if balanced:
      raise DataError(f'class-balanced batches need a dataset held in '
                      f'memory; {data.dataset} is streamed')
    return lambda context: self._stream(data, split, target, seed,
                                        global_batch, start_step, context)

  def _stream(self, data, split, target, seed, global_batch, start_step,
              input_context):
    local = batching.replica_rows(input_context, global_batch)[2]
    split, image, classes = self._split_features(data, split)
    pipelines, pipeline_id = batching.pipeline(input_context)
    stream = batching.map_traced(
        self._load(data, split),
        lambda ex: (self._crop(ex[image], *target),
                    tf.cast(ex['label'], tf.int32) if classes else
                    tf.constant(-1, tf.int32)),
        num_parallel_calls=tf.data.AUTOTUNE)
    # Step s uses batches [s * pipelines, (s + 1) * pipelines): one each.
    stream = stream.shuffle(10_000, seed=seed).repeat().batch(
        global_batch // pipelines, drop_remainder=True)
    stream = stream.skip(start_step * pipelines).shard(pipelines, pipeline_id)
    return stream.unbatch().batch(local, drop_remainder=True).prefetch(2)


source.register('mnist', Tfds(
    'TFDS mnist', (28, 28, 1), 10,
    load_hint='; --dataset=mnist_bundled needs no network'))
source.register('celeb_a', Tfds(
    'TFDS celeb_a, WAE crop resized to 64x64', (64, 64, 3), 0,
    crop=celeba_release.crop_and_resize, streamed=True,
    load_hint='; TFDS downloads CelebA from Google Drive, which often fails: '
    'with the official release files use --dataset=celeb_a_files '
    '--data_dir=FOLDER'))
source.register_fallback(Tfds())

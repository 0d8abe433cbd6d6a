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

from official.data import celeba_release
from official.data import image_folder
from official.data.mnist import load_mnist
from official.errors import ConfigError
from official.errors import DataError

__all__ = ['DATASETS', 'DataError', 'Dataset', 'DatasetInfo',
           'celeba_preprocess', 'data_error_in', 'describe',
           'distributed_iterator', 'fit_images', 'held_out', 'load_arrays',
           'make_dataset_fn']


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A dataset registered by name: how it is read (`source`), and its image
  shape and number of classes where they are fixed (None: found in the
  data)."""
  source: str
  image_shape: tuple = None
  num_classes: int = None
  needs_data_dir: bool = False
  help: str = ''


DATASETS = {
    'mnist_bundled': Dataset('mnist_files', (28, 28, 1), 10,
                             help='the offline MNIST copy in the package'),
    'mnist': Dataset('tfds', (28, 28, 1), 10, help='TFDS mnist'),
    'celeb_a': Dataset('tfds', (64, 64, 3), 0,
                       help='TFDS celeb_a, WAE crop resized to 64x64'),
    'celeb_a_files': Dataset('celeba_release', (64, 64, 3), 0, True,
                             help='the official CelebA release files'),
    'image_folder': Dataset('image_folder', needs_data_dir=True,
                            help='PNG, JPEG or BMP files, a subfolder per '
                            'class or flat'),
    'npz': Dataset('npz', needs_data_dir=True,
                   help='a NumPy .npz with uint8 images (and labels)'),
}
# Any other name is a TFDS image dataset (`fashion_mnist`, `cifar10`, ...).
_TFDS = Dataset('tfds')
# TFDS datasets up to this many bytes of pixels are read into memory (exact
# class-balanced batches, resumes without skipping); larger ones stream.
_IN_MEMORY_BYTES = 2 << 30
# WAE's close crop of the 178x218 CelebA images: the central 140x140.
_CELEBA_CROP = 140


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What a dataset holds, as `describe` finds it.

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


def _registered(name):
  return DATASETS.get(name, _TFDS)


def _check_data_dir(data):
  entry = _registered(data.dataset)
  if entry.needs_data_dir and not data.data_dir:
    what = {'celeba_release': 'the folder of the CelebA release files',
            'image_folder': 'the folder of the images',
            'npz': 'the .npz file'}[entry.source]
    raise DataError(f'--dataset={data.dataset} needs --data_dir: {what}')
  if data.data_dir and not os.path.exists(data.data_dir):
    raise DataError(f'data_dir does not exist: {data.data_dir}')
  if data.data_dir and entry.source != 'npz' and not os.path.isdir(
      data.data_dir):
    raise DataError(f'data_dir is not a folder: {data.data_dir}')


def _npz(path):
  """({split: (images NHWC uint8, labels int32 or None)}, how the test
  split was made) of an .npz file."""
  try:
    with np.load(path) as archive:
      arrays = {key: archive[key] for key in archive.files}
  except (OSError, ValueError) as e:
    raise DataError(f'{path} is not a readable .npz file ({e})') from e
  if 'images' not in arrays:
    raise DataError(f'{path} has no array named images (it has '
                    f'{", ".join(sorted(arrays)) or "none"})')
  splits = {}
  for split, prefix in (('train', ''), ('test', 'test_')):
    images, labels = arrays.get(prefix + 'images'), arrays.get(
        prefix + 'labels')
    if images is None:
      continue
    name = prefix + 'images'
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (
        images.ndim == 4 and images.shape[-1] not in (1, 3, 4)):
      raise DataError(f'{path}: {name} must be uint8 of shape (N, H, W) or '
                      f'(N, H, W, C) with C 1, 3 or 4, got {images.dtype} '
                      f'{images.shape}')
    images = images[..., None] if images.ndim == 3 else images[..., :3]
    if labels is not None:
      if labels.shape != (len(images),) or not np.issubdtype(
          labels.dtype, np.integer) or labels.min() < 0:
        raise DataError(f'{path}: {prefix}labels must be {len(images)} '
                        f'non-negative integers, one per image, got '
                        f'{labels.dtype} {labels.shape}')
      labels = labels.astype(np.int32)
    splits[split] = (images, labels)
  held_out = 'test_images'
  if 'test' not in splits:
    held_out = f'every {image_folder.HELD_OUT_EVERY}th image'
    images, labels = splits['train']
    held = np.zeros(len(images), bool)
    held[image_folder.HELD_OUT_EVERY - 1::image_folder.HELD_OUT_EVERY] = True
    splits = {'train': (images[~held], None if labels is None
                        else labels[~held]),
              'test': (images[held], None if labels is None else labels[held])}
  if (splits['train'][1] is None) != (splits['test'][1] is None):
    raise DataError(f'{path}: give labels for both or neither of images and '
                    f'test_images')
  return splits, held_out


def _tfds_builder(data):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    return tfds.builder(data.dataset, data_dir=data.data_dir)
  except Exception as e:  # TFDS raises many kinds; report one line.
    raise DataError(f'unknown dataset {data.dataset!r}: neither one of '
                    f'{", ".join(sorted(DATASETS))} nor a TFDS dataset '
                    f'({type(e).__name__})') from e


def _tfds_features(builder):
  """(image feature name, (H, W, C), number of classes) of a TFDS builder."""
  features = builder.info.features
  image = next((k for k in ('image', 'img') if k in features), None)
  if image is None:
    raise DataError(f'TFDS {builder.name} has no image feature (its '
                    f'features: {", ".join(features)})')
  label = features['label'] if 'label' in features else None
  classes = getattr(label, 'num_classes', 0) or 0
  return image, tuple(features[image].shape), classes


def _tfds_test_split(builder):
  splits = set(builder.info.splits.keys())
  return 'validation' if splits and 'test' not in splits and (
      'validation' in splits) else 'test'


def describe(data):
  """The `DatasetInfo` of `data` (a `DataConfig`), read from the data where
  the registry does not fix it.

  Raises:
    DataError: an unknown name, a missing or unreadable data_dir, or data
      that does not hold images.
  """
  _check_data_dir(data)
  entry = _registered(data.dataset)
  name = data.dataset
  if entry.source == 'image_folder':
    found = image_folder.scan(data.data_dir)
    sizes = sorted(found.sizes, key=lambda s: -found.sizes[s])
    shape = (sizes[0] if len(sizes) == 1 else (None, None)) + (
        max(found.channels),)
    notes = []
    if found.skipped:
      shown = ', '.join(os.path.basename(p) for p in found.skipped[:3])
      notes.append(f'skipped {len(found.skipped)} files that are not PNG, '
                   f'JPEG or BMP images ({shown}'
                   f'{", ..." if len(found.skipped) > 3 else ""})')
    return DatasetInfo(
        f'{name} {data.data_dir}', shape, len(found.class_names),
        found.class_names,
        {split: len(paths) for split, (paths, _) in found.splits.items()},
        found.held_out,
        '' if found.class_names else
        ' (a flat folder; put the images of each class in a subfolder)',
        ', '.join(f'{h}x{w}' for h, w in sizes[:3]) +
        (', ...' if len(sizes) > 3 else ''), tuple(notes),
        dict(found.channels))
  if entry.source == 'npz':
    splits, held_out = _npz(data.data_dir)
    images, labels = splits['train']
    classes = 0 if labels is None else int(max(
        labels.max(initial=-1), splits['test'][1].max(initial=-1))) + 1
    return DatasetInfo(
        f'{name} {data.data_dir}', images.shape[1:], classes, (),
        {split: len(v[0]) for split, v in splits.items()},
        held_out,
        ' (the file has no labels array)')
  if entry.source == 'tfds' and entry.image_shape is None:
    builder = _tfds_builder(data)
    _, shape, classes = _tfds_features(builder)
    return DatasetInfo(name, shape, classes, (), None,
                       f'the {_tfds_test_split(builder)} split',
                       ' (no ClassLabel feature named label)')
  return DatasetInfo(name, entry.image_shape, entry.num_classes)


def load_arrays(data, split='train'):
  """(images uint8 NHWC, labels int32 or None) of an in-memory dataset: the
  bundled MNIST, an .npz, or a TFDS dataset small enough to hold."""
  _check_data_dir(data)
  entry = _registered(data.dataset)
  if entry.source == 'mnist_files':
    images, labels = load_mnist(split, data.data_dir)
    return images[..., None], labels.astype(np.int32)
  if entry.source == 'npz':
    return _npz(data.data_dir)[0][split]
  return _tfds_arrays(data, split)


def _tfds_load(data, split, **kwargs):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    return tfds.load(data.dataset, split=split, data_dir=data.data_dir,
                     shuffle_files=False, **kwargs)
  except Exception as e:  # TFDS raises many kinds; report one line.
    hint = ('; TFDS downloads CelebA from Google Drive, which often fails: '
            'with the official release files use --dataset=celeb_a_files '
            '--data_dir=FOLDER' if data.dataset == 'celeb_a' else
            '; --dataset=mnist_bundled needs no network'
            if data.dataset == 'mnist' else '')
    raise DataError(f'could not load TFDS {data.dataset} '
                    f'({type(e).__name__}: {str(e).splitlines()[0][:200]})'
                    f'{hint}') from e


def _map(dataset, fn, **kwargs):
  """`dataset.map(fn, **kwargs)` with `fn` traced as written: the map
  functions here branch on Python values only, so autograph's conversion of
  them (about 0.1 s of CPU per dataset made) is skipped."""
  return dataset.map(tf.autograph.experimental.do_not_convert(fn), **kwargs)


def _tfds_arrays(data, split):
  builder = _tfds_builder(data)
  image, _, classes = _tfds_features(builder)
  if split == 'test':
    split = _tfds_test_split(builder)
  batches = _map(_tfds_load(data, split),
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


def _in_memory(data):
  entry = _registered(data.dataset)
  if entry.source in ('mnist_files', 'npz'):
    return True
  if entry.source != 'tfds' or data.dataset == 'celeb_a':
    return False
  builder = _tfds_builder(data)
  _, shape, _ = _tfds_features(builder)
  if None in shape:
    return False
  examples = sum(s.num_examples for s in builder.info.splits.values())
  return examples * int(np.prod(shape)) <= _IN_MEMORY_BYTES


def _crop_and_resize(x, size):
  """The largest central crop of float images `x` ((N,) H, W, C) with the
  aspect ratio of `size`, area-resized to `size` with antialiasing."""
  shape = tf.shape(x)
  height, width = shape[-3], shape[-2]
  target_h, target_w = size

  def fit():
    crop_h = tf.minimum(height, width * target_h // target_w)
    crop_w = tf.minimum(width, height * target_w // target_h)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = x[..., top:top + crop_h, left:left + crop_w, :]
    return tf.clip_by_value(tf.image.resize(
        crop, size, method='area', antialias=True), 0., 1.)

  static = x.shape[-3:-1]
  if None not in static:
    return x if tuple(static) == tuple(size) else fit()
  out = tf.cond(tf.logical_and(tf.equal(height, target_h),
                               tf.equal(width, target_w)),
                lambda: tf.image.resize(x, size), fit)
  return tf.ensure_shape(out, x.shape[:-3] + tuple(size) + x.shape[-1:])


def _convert_channels(x, channels):
  have = x.shape[-1]
  if have == channels:
    return x
  if channels == 1:
    return tf.image.rgb_to_grayscale(x)
  return tf.image.grayscale_to_rgb(x)


def fit_images(images, size, channels):
  """uint8 images ((N,) H, W, C) as float32 in [0, 1] of shape
  ((N,) size, channels): grayscale and RGB converted (ITU-R 601 luma), then
  the largest central crop of the aspect ratio of `size`, area-resized with
  antialiasing (as CelebA's crop is). Images of that shape pass unchanged."""
  x = tf.cast(images, tf.float32) / 255.
  return _crop_and_resize(_convert_channels(x, channels), tuple(size))


def celeba_preprocess(image, size=(64, 64), channels=3):
  """WAE close crop (central 140x140) resized to `size` (64x64) with
  antialiasing; uint8 HWC in, float32 in [0, 1] out."""
  shape = tf.shape(image)
  top, left = (shape[0] - _CELEBA_CROP) // 2, (shape[1] - _CELEBA_CROP) // 2
  crop = image[top:top + _CELEBA_CROP, left:left + _CELEBA_CROP, :]
  crop = tf.cast(crop, tf.float32) / 255.
  return _convert_channels(tf.clip_by_value(
      tf.image.resize(crop, size, method='area', antialias=True), 0., 1.),
                           channels)


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
    raise _not_divisible(global_batch, replicas)
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


def _not_a_multiple(global_batch, classes):
  return ConfigError(f'batch_size {global_batch} is not a multiple '
                     f'of the {classes} classes, as class-balanced '
                     'batches need')


def _not_divisible(global_batch, replicas):
  return ConfigError(f'batch_size {global_batch} is not divisible by '
                     f'the {replicas} replicas')


def _unlabelled(dataset):
  return DataError(f'class-balanced batches need class labels, which '
                   f'{dataset} does not have')


def check_batches(data, global_batch, replicas, balanced):
  """Raises, before any data is read or anything is built, the
  `official.errors.Error` that the pipeline of `global_batch` over
  `replicas` would raise later:
  a batch that the replicas cannot split evenly, class-balanced batches of
  a dataset without labels, or a batch that is not a multiple of the
  classes."""
  if global_batch % replicas:
    raise _not_divisible(global_batch, replicas)
  if not balanced:
    return
  classes = describe(data).num_classes
  if not classes:
    raise _unlabelled(data.dataset)
  if global_batch % classes:
    raise _not_a_multiple(global_batch, classes)


def _balanced_order(labels, seed, global_batch):
  """Step -> the global batch's indices: `global_batch / classes` examples
  of each class in turn, each class shuffled per epoch of its own."""
  classes = int(labels.max()) + 1
  if global_batch % classes:
    raise _not_a_multiple(global_batch, classes)
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
  per_pipeline, first_replica, local = _replica_rows(input_context,
                                                     global_batch)

  def indices(t):
    # Batch t of this pipeline: step t // per_pipeline, replica t % ...
    step = start_step + t // per_pipeline
    start = (first_replica + t % per_pipeline) * local
    return step_indices(step)[start:start + local]

  return _map(tf.data.Dataset.range(2**62), indices), local


def _no_labels(count):
  return np.full(count, -1, np.int32)


def _array_dataset(images, labels, order, target, global_batch, start_step,
                   input_context):
  batches, _ = _batch_indices(order, global_batch, start_step, input_context)
  images = tf.constant(images)
  labels = tf.constant(labels)
  return _map(batches, lambda i: (fit_images(tf.gather(images, i), *target),
                                  tf.gather(labels, i)),
              num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def _file_dataset(load, paths, labels, order, global_batch, start_step,
                  input_context):
  """Batches of `load(path)` (one image) by `order` over `paths`."""
  batches, local = _batch_indices(order, global_batch, start_step,
                                  input_context)
  paths, labels = tf.constant(paths), tf.constant(labels)
  examples = _map(batches.unbatch(),
                  lambda i: (load(tf.gather(paths, i)), tf.gather(labels, i)),
                  num_parallel_calls=tf.data.AUTOTUNE)
  return examples.batch(local, drop_remainder=True).prefetch(2)


def _release_loader(release, target):
  def load(name):
    data = tf.numpy_function(release.read, [name], tf.string, stateful=False)
    return celeba_preprocess(tf.io.decode_jpeg(data, channels=3), *target)
  return load


def _folder_loader(target):
  size, channels = target

  def load(path):
    pixels = tf.numpy_function(lambda p: image_folder.read(p, channels),
                               [path], tf.uint8, stateful=False)
    pixels.set_shape([None, None, channels])
    return fit_images(pixels, size, channels)
  return load


def _stream_dataset(data, split, target, seed, global_batch, start_step,
                    input_context):
  local = _replica_rows(input_context, global_batch)[2]
  builder = _tfds_builder(data) if data.dataset != 'celeb_a' else None
  if builder is not None:
    image, _, classes = _tfds_features(builder)
    split = _tfds_test_split(builder) if split == 'test' else split
  else:
    image, classes = 'image', 0
  pipelines, pipeline_id = _pipeline(input_context)
  prepare = (celeba_preprocess if data.dataset == 'celeb_a' else
             lambda x, size, channels: fit_images(x, size, channels))
  stream = _map(_tfds_load(data, split),
                lambda ex: (prepare(ex[image], *target),
                            tf.cast(ex['label'], tf.int32) if classes else
                            tf.constant(-1, tf.int32)),
                num_parallel_calls=tf.data.AUTOTUNE)
  # Step s uses batches [s * pipelines, (s + 1) * pipelines): one per pipeline.
  stream = stream.shuffle(10_000, seed=seed).repeat().batch(
      global_batch // pipelines, drop_remainder=True)
  stream = stream.skip(start_step * pipelines).shard(pipelines, pipeline_id)
  return stream.unbatch().batch(local, drop_remainder=True).prefetch(2)


def _order(labels, count, seed, global_batch, balanced, dataset):
  if not balanced:
    return _uniform_order(count, seed, global_batch)
  if labels is None or labels.min(initial=0) < 0:
    raise _unlabelled(dataset)
  return _balanced_order(labels, seed, global_batch)


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
  _check_data_dir(data)
  if balanced and _registered(data.dataset).num_classes == 0:
    raise _unlabelled(data.dataset)
  target = _target(data)
  source = _registered(data.dataset).source
  if _in_memory(data):
    images, labels = load_arrays(data, split)
    order = _order(labels, len(images), seed, global_batch, balanced,
                   data.dataset)
    labels = _no_labels(len(images)) if labels is None else labels
    return lambda ctx: _array_dataset(images, labels, order, target,
                                      global_batch, start_step, ctx)
  if source == 'celeba_release':
    release = celeba_release.Release(data.data_dir)
    names = release.names(split)
    order = _order(None, len(names), seed, global_batch, balanced,
                   data.dataset)
    return lambda ctx: _file_dataset(
        _release_loader(release, target), names, _no_labels(len(names)),
        order, global_batch, start_step, ctx)
  if source == 'image_folder':
    paths, labels = image_folder.scan(data.data_dir).splits[split]
    has_labels = bool(len(labels)) and labels.min() >= 0
    order = _order(labels if has_labels else None, len(paths), seed,
                   global_batch, balanced, data.dataset)
    return lambda ctx: _file_dataset(_folder_loader(target), paths, labels,
                                     order, global_batch, start_step, ctx)
  if balanced:
    raise DataError(f'class-balanced batches need a dataset held in memory; '
                    f'{data.dataset} is streamed')
  return lambda ctx: _stream_dataset(data, split, target, seed, global_batch,
                                     start_step, ctx)


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

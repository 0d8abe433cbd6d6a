"""A folder of PNG, JPEG or BMP images, read as users keep them.

Layouts (those of Keras' `image_dataset_from_directory`):

- one subfolder per class (`DIR/cat/*.png`, `DIR/dog/*.png`, images found
  recursively inside each): the labels are the sorted subfolder names;
- a flat folder of images: no labels.

The held-out split is `DIR/test/` when it exists (with the same class
subfolders); the training images are then `DIR/train/` if it exists, else
everything else in `DIR`. Without `DIR/test/`, every tenth image of each
class in sorted path order (the 10th, 20th, ...) is held out: 10%, the same
images every time. Other files (`README.txt`, `.DS_Store`, ...) are skipped
and counted.

`scan` reads only the image headers (size and colour mode); pixels are read
one image at a time while training (`read`), never all at once.
"""

import collections
import dataclasses
import functools
import os

import numpy as np
from PIL import Image
import tensorflow as tf

from official.data import batching
from official.data import pixels
from official.data import source
from official.errors import DataError

__all__ = ['EXTENSIONS', 'FolderScan', 'HELD_OUT_EVERY', 'ImageFolder',
           'read', 'scan']

EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp')
HELD_OUT_EVERY = 10
_GRAY_MODES = ('1', 'L', 'LA', 'I', 'I;16', 'F')


@dataclasses.dataclass(frozen=True)
class FolderScan:
  """What `scan` found: per split, the image paths and labels (-1: none)."""
  root: str
  class_names: tuple
  splits: dict  # split -> (paths, labels)
  sizes: collections.Counter  # (height, width) -> images
  channels: collections.Counter  # 1 or 3 -> images
  skipped: tuple  # paths of files that are not images
  held_out: str  # how the test split was made


def _is_image(name):
  return name.lower().endswith(EXTENSIONS) and not name.startswith('.')


def _images_below(folder, skipped):
  found = []
  for top, dirs, names in os.walk(folder):
    dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
    for name in sorted(names):
      (found if _is_image(name) else skipped).append(os.path.join(top, name))
  return found


def _list(folder, exclude, skipped):
  """(class names, {class index: paths}) of one split's folder; class -1
  for a flat folder."""
  if not os.path.isdir(folder):
    raise DataError(f'image folder does not exist: {folder}')
  entries = sorted(os.listdir(folder))
  classes = [e for e in entries if os.path.isdir(os.path.join(folder, e))
             and e not in exclude and not e.startswith('.')]
  if not classes:
    images = []
    for name in entries:
      path = os.path.join(folder, name)
      if os.path.isfile(path):
        (images if _is_image(name) else skipped).append(path)
    if not images:
      raise DataError(f'no PNG, JPEG or BMP images in {folder}')
    return (), {-1: images}
  members = {}
  for name in entries:
    path = os.path.join(folder, name)
    if os.path.isfile(path):
      skipped.append(path)
  for index, name in enumerate(classes):
    members[index] = _images_below(os.path.join(folder, name), skipped)
    if not members[index]:
      raise DataError(f'class folder {os.path.join(folder, name)} holds no '
                      f'PNG, JPEG or BMP images')
  return tuple(classes), members


def _flatten(members):
  paths = [p for c in sorted(members) for p in members[c]]
  labels = [c for c in sorted(members) for _ in members[c]]
  return paths, np.array(labels, np.int32)


def _header(path):
  try:
    with Image.open(path) as image:
      return image.size[::-1], 1 if image.mode in _GRAY_MODES else 3
  except (OSError, ValueError, Image.DecompressionBombError) as e:
    raise DataError(f'{path} is not a readable PNG, JPEG or BMP image '
                    f'({type(e).__name__})') from e


@functools.lru_cache(maxsize=4)
def scan(root):
  """The images under `root` (see the module docstring).

  Raises:
    DataError: an empty folder, a class folder without images, test classes
      that the training images lack, or a file whose header cannot be read.
  """
  root = os.path.abspath(root)
  skipped = []
  test_root = os.path.join(root, 'test')
  if os.path.isdir(test_root):
    train_root = os.path.join(root, 'train')
    if not os.path.isdir(train_root):
      train_root = root
    names, members = _list(train_root, ('train', 'test'), skipped)
    test_names, test_members = _list(test_root, (), skipped)
    if set(test_names) - set(names) or bool(test_names) != bool(names):
      raise DataError(f'the classes of {test_root} ({", ".join(test_names) or "none"}) '
                      f'are not those of {train_root} ({", ".join(names) or "none"})')
    index = {name: i for i, name in enumerate(names)}
    test_members = {index[test_names[c]] if c >= 0 else -1: paths
                    for c, paths in test_members.items()}
    splits = {'train': _flatten(members), 'test': _flatten(test_members)}
    held_out = f'the images in {test_root}'
  else:
    names, members = _list(root, (), skipped)
    train, test = {}, {}
    for c, paths in members.items():
      test[c] = paths[HELD_OUT_EVERY - 1::HELD_OUT_EVERY]
      held = set(test[c])
      train[c] = [p for p in paths if p not in held]
    if not any(test.values()):
      raise DataError(f'{root} holds fewer than {HELD_OUT_EVERY} images per '
                      f'class: too few to hold out every '
                      f'{HELD_OUT_EVERY}th for testing (or add {test_root})')
    splits = {'train': _flatten(train), 'test': _flatten(test)}
    held_out = (f'every {HELD_OUT_EVERY}th image of each class in sorted path '
                f'order')
  sizes, channels = collections.Counter(), collections.Counter()
  for paths, _ in splits.values():
    for path in paths:
      size, count = _header(path)
      sizes[size] += 1
      channels[count] += 1
  return FolderScan(root, names, splits, sizes, channels, tuple(skipped),
                    held_out)


def read(path, channels):
  """The pixels of the image at `path` (bytes or str), uint8 (H, W,
  channels): grayscale and RGB converted, alpha dropped.

  Raises:
    DataError: naming the path, when the image is truncated or does not
      decode.
  """
  path = path.decode() if isinstance(path, bytes) else path
  try:
    with Image.open(path) as image:
      image = image.convert('L' if channels == 1 else 'RGB')
      pixels = np.asarray(image, np.uint8)
  except (OSError, ValueError, SyntaxError) as e:
    raise DataError(f'{path} is truncated or does not decode '
                    f'({type(e).__name__}: {str(e)[:120]}); fix or remove it '
                    f'and run the same command again to resume') from e
  return pixels.reshape(pixels.shape[:2] + (channels,))


class ImageFolder(source.Source):
  help = 'PNG, JPEG or BMP files, a subfolder per class or flat'
  data_dir_help = 'the folder of the images'

  def describe(self, data):
    found = scan(data.data_dir)
    sizes = sorted(found.sizes, key=lambda s: -found.sizes[s])
    shape = (sizes[0] if len(sizes) == 1 else (None, None)) + (
        max(found.channels),)
    notes = []
    if found.skipped:
      shown = ', '.join(os.path.basename(p) for p in found.skipped[:3])
      notes.append(f'skipped {len(found.skipped)} files that are not PNG, '
                   f'JPEG or BMP images ({shown}'
                   f'{", ..." if len(found.skipped) > 3 else ""})')
    return source.DatasetInfo(
        f'{data.dataset} {data.data_dir}', shape, len(found.class_names),
        found.class_names,
        {split: len(paths) for split, (paths, _) in found.splits.items()},
        found.held_out,
        '' if found.class_names else
        ' (a flat folder; put the images of each class in a subfolder)',
        ', '.join(f'{h}x{w}' for h, w in sizes[:3]) +
        (', ...' if len(sizes) > 3 else ''), tuple(notes),
        dict(found.channels))

  def in_memory(self, data):
    return False

  def dataset_fn(self, data, split, target, seed, global_batch, start_step,
                 balanced):
    paths, labels = scan(data.data_dir).splits[split]
    has_labels = bool(len(labels)) and labels.min() >= 0
    order = batching.order(labels if has_labels else None, len(paths), seed,
                           global_batch, balanced, data.dataset)
    size, channels = target

    def load(path):
      image = tf.numpy_function(lambda p: read(p, channels), [path],
                                tf.uint8, stateful=False)
      image.set_shape([None, None, channels])
      return pixels.fit_images(image, size, channels)

    return lambda context: batching.file_dataset(
        load, paths, labels, order, global_batch, start_step, context)


source.register('image_folder', ImageFolder())

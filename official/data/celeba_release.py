"""The official CelebA release files, read as they are distributed.

A data directory holds the aligned images as `img_align_celeba.zip` or as its
extracted folder `img_align_celeba/` (or the JPEGs themselves), named
`000001.jpg` ... `202599.jpg`, and the official partition
`list_eval_partition.txt` (`NAME SPLIT` per line; 0 train, 1 validation,
2 test). The release's own layout, with `Img/` and `Eval/` subfolders, works
too. Without the partition file, images are split by their numbers exactly as
the official file splits them.

Images are read one at a time (from the zip or the folder), never all at once.
"""

import os
import re
import threading
import zipfile

from absl import logging
import tensorflow as tf

from official.data import batching
from official.data import pixels
from official.data import source
from official.errors import DataError

__all__ = ['ARCHIVE', 'FOLDER', 'PARTITION_FILE', 'Release', 'SPLITS',
           'crop_and_resize']

# WAE's close crop of the 178x218 CelebA images: the central 140x140.
_CROP = 140
ARCHIVE = 'img_align_celeba.zip'
FOLDER = 'img_align_celeba'
PARTITION_FILE = 'list_eval_partition.txt'
SPLITS = {'train': 0, 'validation': 1, 'test': 2}
# The official partition by image number (what list_eval_partition.txt says).
_NUMBER_RANGES = {0: (1, 162_770), 1: (162_771, 182_637), 2: (182_638, 202_599)}
_SUBFOLDERS = ('', 'Img', 'Eval')
_JPEG_START, _JPEG_END = b'\xff\xd8', b'\xff\xd9'


def _find(data_dir, name, isfile):
  for sub in _SUBFOLDERS:
    path = os.path.join(data_dir, sub, name)
    if (os.path.isfile(path) if isfile else os.path.isdir(path)):
      return path
  return None


def _is_jpeg_name(name):
  return name.lower().endswith(('.jpg', '.jpeg'))


class Release:
  """The images and partition of a CelebA release in `data_dir`.

  Raises:
    DataError: no images, or a partition file that is malformed or does not
      list exactly the images found.
  """

  def __init__(self, data_dir):
    self.data_dir = data_dir
    self._local = threading.local()
    self.archive = _find(data_dir, ARCHIVE, isfile=True)
    if self.archive:
      try:
        with zipfile.ZipFile(self.archive) as archive:
          members = [m for m in archive.namelist() if _is_jpeg_name(m)]
      except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f'{self.archive} is not a readable zip file '
                        f'({e})') from e
      self._members = {os.path.basename(m): m for m in members}
      self.source = self.archive
    else:
      folder = _find(data_dir, FOLDER, isfile=False) or data_dir
      self._members = {name: os.path.join(folder, name)
                       for name in os.listdir(folder) if _is_jpeg_name(name)}
      self.source = folder
    if not self._members:
      raise DataError(f'no CelebA images in {data_dir}: expected {ARCHIVE}, '
                      f'a folder {FOLDER}/ or the .jpg files themselves')
    self.partition = self._read_partition()

  def _read_partition(self):
    path = _find(self.data_dir, PARTITION_FILE, isfile=True)
    if path is None:
      logging.warning('no %s in %s: images are split by their numbers as '
                      'in the official partition', PARTITION_FILE,
                      self.data_dir)
      return self._partition_by_number()
    partition = {}
    with open(path) as f:
      for number, line in enumerate(f, 1):
        if not line.strip():
          continue
        fields = line.split()
        if len(fields) != 2 or fields[1] not in ('0', '1', '2'):
          raise DataError(f'{path} line {number} is not "NAME SPLIT" with '
                          f'SPLIT 0, 1 or 2: {line.strip()[:80]!r}')
        partition[fields[0]] = int(fields[1])
    missing = sorted(set(partition) - set(self._members))
    unlisted = sorted(set(self._members) - set(partition))
    if missing or unlisted:
      raise DataError(
          f'{path} does not match the images in {self.source}: '
          f'{len(missing)} listed images are missing'
          f'{f" (first {missing[0]})" if missing else ""} and '
          f'{len(unlisted)} images are not listed'
          f'{f" (first {unlisted[0]})" if unlisted else ""}')
    return partition

  def _partition_by_number(self):
    partition = {}
    for name in self._members:
      match = re.fullmatch(r'(\d+)\.jpe?g', name, re.IGNORECASE)
      split = match and next((s for s, (low, high) in _NUMBER_RANGES.items()
                              if low <= int(match.group(1)) <= high), None)
      if split is None:
        raise DataError(f'{name} in {self.source} is not one of the '
                        f'release\'s numbered images; without '
                        f'{PARTITION_FILE} the split cannot be known')
      partition[name] = split
    return partition

  def names(self, split):
    """The sorted image names of `split` ('train', 'validation', 'test')."""
    if split not in SPLITS:
      raise ValueError(f'unknown CelebA split {split!r}; use one of '
                       f'{sorted(SPLITS)}')
    names = sorted(n for n, s in self.partition.items() if s == SPLITS[split])
    if not names:
      raise DataError(f'the {split} split of the CelebA release in '
                      f'{self.data_dir} has no images')
    return names

  def read(self, name):
    """The JPEG bytes of image `name`, checked to be a whole JPEG file."""
    name = name.decode() if isinstance(name, bytes) else name
    member = self._members[name]
    try:
      if self.archive:
        if not hasattr(self._local, 'archive'):  # one handle per thread
          self._local.archive = zipfile.ZipFile(self.archive)
        data = self._local.archive.read(member)
      else:
        with open(member, 'rb') as f:
          data = f.read()
    except (OSError, zipfile.BadZipFile) as e:
      raise DataError(f'unreadable CelebA image {name} in {self.source} '
                      f'({e})') from e
    # A cut-off file lacks the end-of-image marker. Checked here, the error
    # can name the file, which TensorFlow's decoder error would not.
    if not (data.startswith(_JPEG_START) and
            data.rstrip(b'\0').endswith(_JPEG_END)):
      raise DataError(f'truncated or not a JPEG: CelebA image {name} in '
                      f'{self.source} ({len(data)} bytes)')
    return data


def crop_and_resize(image, size=(64, 64), channels=3):
  """WAE close crop (central 140x140) resized to `size` (64x64) with
  antialiasing; uint8 HWC in, float32 in [0, 1] out."""
  shape = tf.shape(image)
  top, left = (shape[0] - _CROP) // 2, (shape[1] - _CROP) // 2
  crop = pixels.to_unit(image[top:top + _CROP, left:left + _CROP, :])
  return pixels.convert_channels(tf.clip_by_value(
      tf.image.resize(crop, size, method='area', antialias=True), 0., 1.),
                                 channels)


class CelebaFiles(source.Source):
  help = 'the official CelebA release files'
  data_dir_help = 'the folder of the CelebA release files'
  image_shape = (64, 64, 3)
  num_classes = 0

  def in_memory(self, data):
    return False

  def dataset_fn(self, data, split, target, seed, global_batch, start_step,
                 balanced):
    release = Release(data.data_dir)
    names = release.names(split)
    order = batching.order(None, len(names), seed, global_batch, balanced,
                           data.dataset)

    def load(name):
      jpeg = tf.numpy_function(release.read, [name], tf.string,
                               stateful=False)
      return crop_and_resize(tf.io.decode_jpeg(jpeg, channels=3), *target)

    return lambda context: batching.file_dataset(
        load, names, batching.no_labels(len(names)), order, global_batch,
        start_step, context)


source.register('celeb_a_files', CelebaFiles())

"""The bundled offline copy of MNIST: the four IDX files, checksum-verified."""

import functools
import gzip
import hashlib
import os

import numpy as np

from official.data import source
from official.errors import DataError

__all__ = ['BUNDLED_DIR', 'BundledMnist', 'DataError', 'load_mnist']

BUNDLED_DIR = os.path.join(os.path.dirname(__file__), 'files', 'mnist')

_FILES = {
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}
_SHA256 = {
    'train-images-idx3-ubyte.gz':
        '0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971',
    'train-labels-idx1-ubyte.gz':
        '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
    't10k-images-idx3-ubyte.gz':
        '1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be',
    't10k-labels-idx1-ubyte.gz':
        'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
}
_IDX_MAGIC = {3: 2051, 1: 2049}  # images (N, 28, 28) and labels (N,)


def _read_verified(path):
  if not os.path.isfile(path):
    raise DataError(f'MNIST file not found: {path}')
  with open(path, 'rb') as f:
    raw = f.read()
  digest = hashlib.sha256(raw).hexdigest()
  expected = _SHA256[os.path.basename(path)]
  if digest != expected:
    raise DataError(f'MNIST file is corrupt: {path} has sha256 {digest}, '
                    f'expected {expected}')
  return gzip.decompress(raw)


def _parse_idx(data, ndim, path):
  magic = int.from_bytes(data[:4], 'big')
  if magic != _IDX_MAGIC[ndim]:
    raise DataError(f'{path} is not an IDX file of {ndim} axes '
                    f'(magic number {magic})')
  dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
  return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(split='train', data_dir=None):
  """Returns `(images, labels)`: uint8 arrays of shape (N, 28, 28) and (N,).

  Args:
    split: 'train' (60,000 digits) or 'test' (10,000).
    data_dir: folder holding the four original `*-ubyte.gz` files; defaults to
      the copy bundled with the package.

  Raises:
    DataError: a file is missing, fails its sha256 check or is not IDX.
    ValueError: an unknown split.
  """
  if split not in _FILES:
    raise ValueError(f'unknown MNIST split {split!r}; use one of '
                     f'{sorted(_FILES)}')
  data_dir = data_dir or BUNDLED_DIR
  files = tuple(os.path.join(data_dir, f) for f in _FILES[split])
  return _load_split(*files, _identity(files))


def _identity(files):
  """What tells a file changed: its size and modification time (None for a
  missing file, which `_read_verified` reports)."""
  return tuple((s.st_size, s.st_mtime_ns) if s else None for s in (
      os.stat(f) if os.path.isfile(f) else None for f in files))


# A run reads a split more than once (training batches, the OT
# initialization, the quick check); the arrays are read-only, so one copy is
# shared. A file that changes on disk is read and verified again.
@functools.lru_cache(maxsize=4)
def _load_split(image_file, label_file, identity):
  del identity  # part of the cache key only
  images = _parse_idx(_read_verified(image_file), 3, image_file)
  labels = _parse_idx(_read_verified(label_file), 1, label_file)
  if len(images) != len(labels):
    raise DataError(f'{image_file} has {len(images)} images but {label_file} '
                    f'has {len(labels)} labels')
  return images, labels


class BundledMnist(source.Source):
  """The package's own MNIST files, or the same four files in `data_dir`."""
  help = 'the offline MNIST copy in the package'
  image_shape = (28, 28, 1)
  num_classes = 10

  def arrays(self, data, split):
    images, labels = load_mnist(split, data.data_dir)
    return images[..., None], labels.astype(np.int32)


source.register('mnist_bundled', BundledMnist())

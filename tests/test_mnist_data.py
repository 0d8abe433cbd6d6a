"""The bundled MNIST copy: contents, checksums and errors."""

import os
import shutil

import numpy as np
import pytest

from official.data import mnist


def test_bundled_mnist_loads_with_known_contents():
  images, labels = mnist.load_mnist('train')
  assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
  assert labels.shape == (60000,) and set(np.unique(labels)) == set(range(10))
  assert labels[:5].tolist() == [5, 0, 4, 1, 9]
  test_images, test_labels = mnist.load_mnist('test')
  assert test_images.shape == (10000, 28, 28)
  assert test_labels[:3].tolist() == [7, 2, 1]
  assert 0.12 < images.mean() / 255 < 0.14


@pytest.fixture
def copy_dir(tmp_path):
  for name in os.listdir(mnist.BUNDLED_DIR):
    shutil.copy(os.path.join(mnist.BUNDLED_DIR, name), tmp_path)
  return tmp_path


def test_missing_file_is_named(copy_dir):
  os.remove(copy_dir / 't10k-labels-idx1-ubyte.gz')
  with pytest.raises(mnist.DataError,
                     match='MNIST file not found: .*t10k-labels-idx1-ubyte.gz'):
    mnist.load_mnist('test', data_dir=str(copy_dir))


def test_a_split_is_read_once_and_again_when_its_file_changes(copy_dir):
  first = mnist.load_mnist('test', data_dir=str(copy_dir))
  again = mnist.load_mnist('test', data_dir=str(copy_dir))
  assert all(a is b for a, b in zip(first, again))
  assert not first[0].flags.writeable  # shared, so read-only
  path = copy_dir / 't10k-labels-idx1-ubyte.gz'
  os.utime(path, ns=(0, 0))
  reread = mnist.load_mnist('test', data_dir=str(copy_dir))
  assert reread[1] is not first[1]
  np.testing.assert_array_equal(reread[1], first[1])


def test_corrupt_file_fails_its_checksum(copy_dir):
  mnist.load_mnist('test', data_dir=str(copy_dir))  # read before the damage
  path = copy_dir / 't10k-images-idx3-ubyte.gz'
  data = bytearray(path.read_bytes())
  data[1000] ^= 0xFF
  path.write_bytes(bytes(data))
  with pytest.raises(mnist.DataError,
                     match='MNIST file is corrupt: .*t10k-images.* sha256'):
    mnist.load_mnist('test', data_dir=str(copy_dir))


def test_unknown_split():
  with pytest.raises(ValueError, match="unknown MNIST split 'validation'"):
    mnist.load_mnist('validation')

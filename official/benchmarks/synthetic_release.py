"""A synthetic CelebA release in the official layout, for benchmarks and tests.

`write_release(data_dir, count)` writes `count` JPEGs of 178x218 (the aligned
images' size) named `000001.jpg` ..., as the folder `img_align_celeba/` or as
`img_align_celeba.zip`, and a matching `list_eval_partition.txt`.
"""

import io
import os
import zipfile

import numpy as np
from PIL import Image

from official.data import celeba_release

__all__ = ['write_release']

_WIDTH, _HEIGHT = 178, 218


def _picture(rng):
  """Smooth colour gradients plus noise: JPEG sizes like real photos'."""
  y, x = np.mgrid[0:_HEIGHT, 0:_WIDTH] / np.array([_HEIGHT, _WIDTH])[:, None,
                                                                   None]
  colours = rng.uniform(0, 255, (3, 3))
  image = (colours[0] + np.multiply.outer(y, colours[1]) +
           np.multiply.outer(x, colours[2])) / 2
  image += rng.normal(0, 12, image.shape)
  return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def write_release(data_dir, count, archive=False, partition=True, seed=0,
                  splits=(0.8, 0.1)):
  """Writes the release; returns {name: split number} of its partition.

  Args:
    data_dir: the folder to write into (created if needed).
    count: how many images.
    archive: write `img_align_celeba.zip` instead of the folder.
    partition: write `list_eval_partition.txt`.
    seed: seed of the pictures.
    splits: fractions of the images in train and validation; the rest is test.
  """
  rng = np.random.default_rng(seed)
  os.makedirs(data_dir, exist_ok=True)
  names = [f'{i:06d}.jpg' for i in range(1, count + 1)]
  bounds = np.cumsum([int(count * f) for f in splits])
  split_of = {name: int(np.searchsorted(bounds, i, side='right'))
              for i, name in enumerate(names)}
  folder = os.path.join(data_dir, celeba_release.FOLDER)
  zipped = (zipfile.ZipFile(os.path.join(data_dir, celeba_release.ARCHIVE),
                            'w') if archive else None)
  if not archive:
    os.makedirs(folder, exist_ok=True)
  for name in names:
    buffer = io.BytesIO()
    _picture(rng).save(buffer, format='JPEG', quality=90)
    if zipped:
      zipped.writestr(f'{celeba_release.FOLDER}/{name}', buffer.getvalue())
    else:
      with open(os.path.join(folder, name), 'wb') as f:
        f.write(buffer.getvalue())
  if zipped:
    zipped.close()
  if partition:
    with open(os.path.join(data_dir, celeba_release.PARTITION_FILE), 'w') as f:
      f.writelines(f'{name} {split}\n' for name, split in split_of.items())
  return split_of

"""A NumPy `.npz` file of uint8 images: `images` (N, H, W) or (N, H, W, C)
with C 1, 3 or 4 (alpha dropped), optional `labels` (N,) of non-negative
integers, and optional `test_images` / `test_labels` for the held-out split
(else every 10th image is held out, as for image folders)."""

import numpy as np

from official.data import image_folder
from official.data import source
from official.errors import DataError


def _read(path):
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


class Npz(source.Source):
  help = 'a NumPy .npz with uint8 images (and labels)'
  data_dir_help = 'the .npz file'
  data_dir_is_file = True

  def describe(self, data):
    splits, held_out = _read(data.data_dir)
    images, labels = splits['train']
    classes = 0 if labels is None else int(max(
        labels.max(initial=-1), splits['test'][1].max(initial=-1))) + 1
    return source.DatasetInfo(
        f'{data.dataset} {data.data_dir}', images.shape[1:], classes, (),
        {split: len(v[0]) for split, v in splits.items()}, held_out,
        ' (the file has no labels array)')

  def arrays(self, data, split):
    return _read(data.data_dir)[0][split]


source.register('npz', Npz())

"""Image grids as PNG files."""

import os

import numpy as np
from PIL import Image


def image_grid(images, columns):
  """Tiles NHWC images in [0, 1] (1 or 3 channels) into one uint8 array."""
  images = np.clip(np.asarray(images, np.float64), 0., 1.)
  n, h, w, c = images.shape
  rows = -(-n // columns)
  grid = np.ones((rows * (h + 2) + 2, columns * (w + 2) + 2, c))
  for i, image in enumerate(images):
    top, left = 2 + (i // columns) * (h + 2), 2 + (i % columns) * (w + 2)
    grid[top:top + h, left:left + w] = image
  grid = (grid * 255. + 0.5).astype(np.uint8)
  return grid[..., 0] if c == 1 else grid


def save_image_grid(images, path, columns=10, scale=2):
  """Writes `images` as a PNG grid, each pixel shown `scale` x `scale`."""
  grid = image_grid(images, columns)
  if scale > 1:
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  Image.fromarray(grid).save(path)
  return path

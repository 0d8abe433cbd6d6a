"""Image grids and line plots as PNG files."""

import numpy as np
from PIL import Image

from official import files


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


def _save_png(image, path):
  """Writes the PIL `image` to `path` as PNG, atomically (`official.files`)."""
  with files.written_atomically(path) as temp:
    image.save(temp, format='PNG')


def save_image_grid(images, path, columns=10, scale=2):
  """Writes `images` as a PNG grid, each pixel shown `scale` x `scale`."""
  grid = image_grid(images, columns)
  if scale > 1:
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
  _save_png(Image.fromarray(grid), path)
  return path


def save_line_plot(series, path, title, x_label, y_label, size=(720, 420),
                   y_max=None):
  """Writes `series` ({name: (xs, ys)}) as a PNG line plot (matplotlib) of
  `size` pixels, with a legend; the y axis starts at 0 and ends at `y_max`
  (None: above the highest value)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')  # no display: files only
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  dpi = 100
  figure, axes = plt.subplots(figsize=(size[0] / dpi, size[1] / dpi),
                              dpi=dpi, layout='constrained')
  try:
    for name, (xs, ys) in series.items():
      axes.plot(xs, ys, label=str(name), linewidth=1.5)
    axes.set_ylim(bottom=0, top=y_max)
    axes.set(title=title, xlabel=x_label, ylabel=y_label)
    axes.grid(alpha=0.3)
    axes.legend(loc='center left', bbox_to_anchor=(1.01, 0.5), frameon=False)
    with files.written_atomically(path) as temp:
      figure.savefig(temp, format='png', dpi=dpi)
  finally:
    plt.close(figure)
  return path

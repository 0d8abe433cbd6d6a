"""Image grids and line plots as PNG files."""

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

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


# Distinguishable line colours (Okabe-Ito, then greys).
_COLOURS = ['#000000', '#e69f00', '#56b4e9', '#009e73', '#f0e442', '#0072b2',
            '#d55e00', '#cc79a7', '#999999', '#666666']


def save_line_plot(series, path, title, x_label, y_label, size=(720, 420)):
  """Writes `series` ({name: (xs, ys)}) as a PNG line plot with a legend.

  The y axis starts at 0; the axes are labelled at their ends and middle."""
  width, height = size
  left, right, top, bottom = 60, 110, 34, 44
  font = ImageFont.load_default(size=13)
  image = Image.new('RGB', size, 'white')
  draw = ImageDraw.Draw(image)
  xs = np.concatenate([np.asarray(x, np.float64) for x, _ in series.values()])
  ys = np.concatenate([np.asarray(y, np.float64) for _, y in series.values()])
  x_min, x_max = float(xs.min()), float(xs.max())
  y_max = float(ys.max()) or 1.
  x_span = (x_max - x_min) or 1.
  to_px = lambda x, y: (left + (x - x_min) / x_span * (width - left - right),
                        height - bottom - y / y_max * (height - top - bottom))
  draw.rectangle([left, top, width - right, height - bottom], outline='black')
  for fraction in (0., .5, 1.):
    y = fraction * y_max
    _, py = to_px(x_min, y)
    draw.text((left - 6, py), f'{y:.4g}', fill='black', font=font, anchor='rm')
    x = x_min + fraction * x_span
    px, _ = to_px(x, 0.)
    draw.text((px, height - bottom + 6), f'{x:.4g}', fill='black', font=font,
              anchor='mt')
  draw.text((width / 2 - right / 2, 8), title, fill='black', font=font,
            anchor='mt')
  draw.text(((left + width - right) / 2, height - 14), x_label, fill='black',
            font=font, anchor='mm')
  draw.text((8, top - 20), y_label, fill='black', font=font)
  for i, (name, (x, y)) in enumerate(series.items()):
    colour = _COLOURS[i % len(_COLOURS)]
    points = [to_px(a, b) for a, b in zip(x, y)]
    if len(points) > 1:
      draw.line(points, fill=colour, width=2)
    legend_y = top + 4 + 18 * i
    draw.line([(width - right + 10, legend_y + 7),
               (width - right + 30, legend_y + 7)], fill=colour, width=3)
    draw.text((width - right + 36, legend_y), str(name), fill='black',
              font=font)
  _save_png(image, path)
  return path

"""The one place where pixels change scale.

Data sources read 8-bit images (uint8, 0..255); models, losses and figures
take float32 in [0, 1], `to_unit`'s `x / 255`. PIE's likelihood is of the
8-bit values themselves (dequantized by `PseudoInvertibleEncoder.log_prob`),
which `to_levels` recovers exactly from [0, 1]. FID's Inception network
takes [0, 255] floats, `to_levels` without the rounding.
"""

import tensorflow as tf

__all__ = ['MAX_LEVEL', 'convert_channels', 'fit_images', 'to_levels',
           'to_unit']

MAX_LEVEL = 255.


def to_unit(images):
  """uint8 (or 0..255) images as float32 in [0, 1]."""
  return tf.cast(images, tf.float32) / MAX_LEVEL


def to_levels(images, dtype=tf.float32, exact=True):
  """Images in [0, 1] as 0..255 in `dtype`: the 8-bit values they were
  made from (`exact`: rounded), or the same scale unrounded."""
  scaled = tf.cast(images, dtype) * MAX_LEVEL
  return tf.round(scaled) if exact else scaled


def convert_channels(x, channels):
  """Grayscale <-> RGB (ITU-R 601 luma) to `channels`; as is when equal."""
  have = x.shape[-1]
  if have == channels:
    return x
  if channels == 1:
    return tf.image.rgb_to_grayscale(x)
  return tf.image.grayscale_to_rgb(x)


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


def fit_images(images, size, channels):
  """uint8 images ((N,) H, W, C) as float32 in [0, 1] of shape
  ((N,) size, channels): grayscale and RGB converted, then the largest
  central crop of the aspect ratio of `size`, area-resized with antialiasing
  (as CelebA's crop is). Images of that shape pass unchanged."""
  return _crop_and_resize(convert_channels(to_unit(images), channels),
                          tuple(size))

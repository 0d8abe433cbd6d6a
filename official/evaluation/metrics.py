"""The papers' metrics besides FID."""

import numpy as np
import tensorflow as tf

__all__ = ['code_usage', 'latent_usage', 'prior_match', 'round_trip',
           'sharpness', 'visible_dims']

_LAPLACE = np.array([[0., 1., 0.], [1., -4., 1.], [0., 1., 0.]])
_LUMA = (0.299, 0.587, 0.114)


def sharpness(images, batch_size=1000):
  """PIE's sharpness (Sec. 5.2): the variance of the Laplace-filtered
  grayscale image, averaged over images.

  `images`: NHWC in [0, 1], 1 or 3 channels (RGB is turned to luma). The
  4-neighbour Laplace kernel is applied as a 'valid' convolution (no padding);
  with it the MNIST test set scores 0.183, the paper's "True 0.18".
  Returns (mean, per-image values).
  """
  values = []
  kernel = tf.constant(_LAPLACE[:, :, None, None], tf.float32)
  for start in range(0, len(images), batch_size):
    batch = tf.cast(images[start:start + batch_size], tf.float32)
    if batch.shape[-1] == 3:
      batch = tf.reduce_sum(batch * tf.constant(_LUMA), -1, keepdims=True)
    filtered = tf.nn.conv2d(batch, kernel, 1, 'VALID')
    values.append(tf.math.reduce_variance(filtered, axis=[1, 2, 3]).numpy())
  values = np.concatenate(values)
  return float(values.mean()), values


def round_trip(model, images, batch_size=500):
  """The two round trips, from one encoding `u = encode_full(x)` of each
  batch of `images`.

  Returns:
    `(errors, reconstructions)`. `errors` holds the mean and max absolute
    error of `decode_full(u)` (the full round trip, no clamping) and the mean
    absolute error of `decode(restrict(u)) = decode(encode(x))`, the
    reconstruction from the prior dimensions only (RevNet: others clamped;
    PIE: from z). `reconstructions` are those `decode(restrict(u))`, a numpy
    array shaped like `images`.
  """
  inverted, reconstructed, count, worst = 0., 0., 0, 0.
  reconstructions = []
  for start in range(0, len(images), batch_size):
    x = tf.constant(images[start:start + batch_size], model.compute_dtype)
    u = model.encode_full(x)
    error = np.abs(model.decode_full(u).numpy() - x)
    inverted, count = inverted + error.sum(), count + error.size
    worst = max(worst, float(error.max()))
    reconstructions.append(model.decode(model.restrict(u)).numpy())
    reconstructed += np.abs(reconstructions[-1] - x).sum()
  errors = {'inversion_l1_mean': float(inverted / count),
            'inversion_l1_max': worst,
            'reconstruction_l1_from_prior_dims': float(reconstructed / count)}
  return errors, np.concatenate(reconstructions)


def latent_usage(stds, threshold):
  """Dimensions whose std exceeds `threshold`, from per-class stds (C, D):
  counts per class, used by any class, and used by more than one class."""
  used = np.asarray(stds) > threshold
  return {'used_dims_threshold': threshold,
          'used_dims_per_class': used.sum(axis=1).tolist(),
          'used_dims_any_class': int(used.any(axis=0).sum()),
          'used_dims_shared': int((used.sum(axis=0) > 1).sum())}


def visible_dims(decode, means, stds, top=4, threshold=0.05, spectrum=8):
  """The dimensions each class visibly varies along, read as the RevNet
  authors read them (their `notebooks/mnist/Plots.ipynb`, Fig. 12).

  The `top` dimensions of the class-averaged std are taken for every class;
  class c's dimension d counts when decoding its mean with d set to
  m[c, d] - 2 s[c, d] and to m[c, d] + 2 s[c, d] changes the image by at
  least `threshold` in mean absolute pixel value (the two ends of the
  notebook's row of pictures).

  Args:
    decode: codes (N, D) to images in [0, 1] (`decode_full`).
    means: the class means, (C, D).
    stds: the class stds, (C, D).
    top: how many dimensions to read.
    threshold: the smallest mean absolute image change that counts.
    spectrum: how many of each class's largest stds to report.

  Returns:
    the top dimensions, per class the image change along each of them and
    the count of visible ones, their median, how many of the top dimensions
    are visible in more than one class, and each class's `spectrum` largest
    stds.
  """
  means, stds = np.asarray(means), np.asarray(stds)
  dims = np.argsort(-stds.mean(axis=0), kind='stable')[:top]
  num_classes = len(means)
  codes = np.repeat(means[:, None, None, :], len(dims), axis=1)
  codes = np.repeat(codes, 2, axis=2)  # (C, top, 2, D): ends of each row
  for i, d in enumerate(dims):
    codes[:, i, 0, d] = means[:, d] - 2. * stds[:, d]
    codes[:, i, 1, d] = means[:, d] + 2. * stds[:, d]
  images = np.asarray(decode(codes.reshape(-1, means.shape[1]).astype(
      np.float32))).reshape((num_classes, len(dims), 2, -1))
  change = np.abs(images[:, :, 1] - images[:, :, 0]).mean(axis=-1)
  visible = change >= threshold
  return {'visible_dims_rule': f'top {top} dims of the class-averaged std, '
                               f'image change >= {threshold} over +-2 std',
          'visible_dims_top': dims.tolist(),
          'visible_dims_change_per_class': np.round(change.astype(np.float64), 4).tolist(),
          'visible_dims_per_class': visible.sum(axis=1).tolist(),
          'visible_dims_median': float(np.median(visible.sum(axis=1))),
          'visible_dims_shared': int((visible.sum(axis=0) > 1).sum()),
          'largest_stds_per_class': np.round(
              -np.sort(-stds.astype(np.float64), axis=1)[:, :spectrum],
              4).tolist()}


def prior_match(codes):
  """How far the codes (N, d) of held-out images are from the prior N(0, I)
  they should follow: per dimension their mean and std, and the extremes."""
  codes = np.asarray(codes, np.float64)
  means, stds = codes.mean(axis=0), codes.std(axis=0)
  return {'prior_code_means': np.round(means, 4).tolist(),
          'prior_code_stds': np.round(stds, 4).tolist(),
          'prior_code_mean_abs_max': float(np.abs(means).max()),
          'prior_code_std_min': float(stds.min()),
          'prior_code_std_max': float(stds.max())}


def code_usage(codes, labels, threshold):
  """Per class, the dimensions along which the class's codes (N, D) spread
  with a std above `threshold`: the dimensions the data actually use, to set
  beside the learned stds of `latent_usage`."""
  codes, labels = np.asarray(codes, np.float64), np.asarray(labels)
  return {'used_dims_per_class_in_codes': [
      int((np.std(codes[labels == c], axis=0) > threshold).sum())
      for c in np.unique(labels)]}


def plateau(curves, window):
  """Where per-class curves of used dimensions stop falling.

  `curves` maps each class to `(steps, counts)` as logged during training.
  The plateau is reached at the first logged step from which no class loses
  a dimension over the next `window` steps (all of which must be logged).

  Returns:
    `{'plateau_rule': ..., 'plateau_step': step or None,
    'last_logged_step': ..., 'used_dims_per_class_at_plateau': [...] or
    None}`.
  """
  rule = f'no class loses a dimension over {window} steps'
  series = [dict(zip(np.asarray(s).tolist(), np.asarray(c).tolist()))
            for s, c in (curves[k] for k in sorted(curves))]
  steps = sorted(set.intersection(*(set(s) for s in series)))
  last = steps[-1] if steps else None
  for start in steps:
    if start + window > last:
      break
    span = [t for t in steps if start <= t <= start + window]
    if all(min(s[t] for t in span) >= s[start] for s in series):
      return {'plateau_rule': rule, 'plateau_step': start,
              'last_logged_step': last,
              'used_dims_per_class_at_plateau': [int(s[start])
                                                 for s in series]}
  return {'plateau_rule': rule, 'plateau_step': None,
          'last_logged_step': last, 'used_dims_per_class_at_plateau': None}

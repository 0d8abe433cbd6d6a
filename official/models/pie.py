"""Pseudo-invertible encoder (PIE): a flow that drops dimensions at splits."""

import dataclasses
import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

import bijectors
import layers
from official.errors import ConfigError
from official.models import base

tfb = tfp.bijectors
tfd = tfp.distributions


@dataclasses.dataclass(frozen=True)
class PieConfig:
  """PIE as in section 5.1 of the paper.

  Attributes:
    image_shape: (H, W, C) of the data, pixels in [0, 1].
    conv_blocks: how many convolutional blocks (each: checkerboard
      downsampling, `steps` x [affine coupling + Householder 1x1 conv], split
      keeping half of the channels).
    linear_sizes: the dimension each linear block keeps at its split; `None`
      for a last block without split.
    latent_dims: the code size, when `linear_sizes` is left to `for_data`.
    steps: K, the coupling/Householder pairs per block.
    num_reflections: Householder reflections per mixing step.
    epsilon_sq: eps^2 of N(r | g(z), eps^2 I).
    learn_g: learn the mean g(z) of every dropped part; False fixes g = 0.
    conv_hidden, dense_hidden: widths of the coupling and g networks. The
      paper gives none; at these the model has 0.75 M parameters (3.0 MB), so
      a trained PIE ships as a SavedModel under 10 MB (256 dense units would
      make it 8.3 MB of weights alone).
  """
  image_shape: tuple = (28, 28, 1)
  conv_blocks: int = 2
  linear_sizes: tuple = (64, 10, None)
  steps: int = 3
  num_reflections: int = 3
  epsilon_sq: float = 0.01
  learn_g: bool = True
  conv_hidden: int = 64
  dense_hidden: int = 128
  latent_dims: int = None

  def for_data(self, image_shape, num_classes=0):
    """This config for images of `image_shape`: fields left None are derived.

    `conv_blocks`: one block per halving of both sides while the halved
    sides stay at least 4 (28x28 gives 2, 32x32 gives 3); `linear_sizes`:
    `(64, latent_dims, None)`, or `(latent_dims, None)` when `latent_dims` is
    64 or more (MNIST's preset is `(64, 10, None)`).

    Raises:
      official.errors.ConfigError: if the shape cannot be taken, or
        `latent_dims` is not below the flattened size of the last
        convolutional block.
    """
    del num_classes
    base.check_image_shape(self, image_shape, 'PIE')
    height, width, channels = image_shape
    blocks = self.conv_blocks
    if blocks is None:
      blocks = 0
      while height % 2 == 0 and width % 2 == 0 and min(height, width) >= 8:
        height, width, channels = height // 2, width // 2, channels * 2
        blocks += 1
    else:
      height, width, channels = (height // 2**blocks, width // 2**blocks,
                                 channels * 2**blocks)
    flat = height * width * channels
    sizes = self.linear_sizes
    if sizes is None:
      if not self.latent_dims or self.latent_dims >= flat:
        raise ConfigError(f'latent_dims must be between 1 and {flat - 1} for '
                          f'{"x".join(map(str, image_shape))} images, got '
                          f'{self.latent_dims}')
      sizes = ((64, self.latent_dims, None) if self.latent_dims < 64 < flat
               else (self.latent_dims, None))
    elif self.latent_dims is not None:
      raise ConfigError('give latent_dims or linear_sizes, not both')
    return dataclasses.replace(self, image_shape=tuple(image_shape),
                               conv_blocks=blocks, linear_sizes=tuple(sizes),
                               latent_dims=None)


class _Builder:
  """Builds the nested PIE flow from the innermost block outwards."""

  def __init__(self, config, dtype, network_dtype):
    self.config = config
    self.dtype = dtype
    self.network_dtype = network_dtype
    self.epsilon = math.sqrt(config.epsilon_sq)

  def _mixing_steps(self, channels, conv, prefix):
    steps = []
    for k in range(self.config.steps):
      nets = [layers.ShiftAndLogScale(
          self.config.conv_hidden if conv else self.config.dense_hidden,
          channels // 2, conv=conv, dtype=self.network_dtype,
          name=f'{prefix}_coupling{k}_net{i}') for i in (1, 2)]
      steps.append(bijectors.AffineCoupling(
          *nets, event_ndims=3 if conv else 1, name=f'{prefix}_coupling{k}'))
      steps.append(bijectors.Householder(
          channels, self.config.num_reflections, dtype=self.dtype,
          name=f'{prefix}_householder{k}'))
    return steps

  def _split(self, keep, dropped, conv, prefix):
    g = None
    if self.config.learn_g:
      g = (layers.ConvStack(self.config.conv_hidden, dropped,
                            zero_init_output=True, dtype=self.network_dtype,
                            name=f'{prefix}_g') if conv else
           layers.DenseStack(self.config.dense_hidden, dropped,
                             zero_init_output=True,
                             dtype=self.network_dtype, name=f'{prefix}_g'))
    return bijectors.Split(keep, g, self.epsilon, event_ndims=3 if conv else 1,
                           name=f'{prefix}_split')

  def _chain(self, steps_in_order, name):
    return tfb.Chain(steps_in_order[::-1], name=name)

  def linear(self, index, size):
    """The linear blocks from `index` on, acting on vectors of `size`."""
    keep = self.config.linear_sizes[index]
    prefix = f'linear{index}'
    steps = self._mixing_steps(size, conv=False, prefix=prefix)
    if keep is None:
      return self._chain(steps, prefix)
    steps.append(self._split(keep, size - keep, conv=False, prefix=prefix))
    steps.append(bijectors.FactorOut(self.linear(index + 1, keep), keep,
                                     [size], name=f'{prefix}_factor_out'))
    return self._chain(steps, prefix)

  def conv(self, index, shape):
    """The blocks from convolutional block `index` on, on images of `shape`."""
    if index == self.config.conv_blocks:
      size = int(np.prod(shape))
      return self._chain([tfb.Reshape([size], list(shape)),
                          self.linear(0, size)], 'flatten')
    prefix = f'conv{index}'
    h, w, c = shape
    channels = 4 * c
    steps = [bijectors.CheckerboardSubsample(False, name=f'{prefix}_subsample')]
    steps += self._mixing_steps(channels, conv=True, prefix=prefix)
    keep = channels // 2
    steps.append(self._split(keep, channels - keep, conv=True, prefix=prefix))
    steps.append(bijectors.FactorOut(
        self.conv(index + 1, (h // 2, w // 2, keep)), keep,
        [h // 2, w // 2, channels], name=f'{prefix}_factor_out'))
    return self._chain(steps, prefix)


@base.register_model(PieConfig)
class PseudoInvertibleEncoder(base.InvertibleAutoencoder):
  """PIE: `F(x) = u = [z, r'_L, ..., r'_1]`, where the `r'` are the
  standardized dropped parts (`bijectors.Split`) and `z` the code.

  `encode(x) = z`; `decode(z) = F^-1([z, 0])`, which is `F^-1([z, g(z)])` of
  Eq. 4 because the splits standardize around `g`. `log_prob` is the density of
  a standard normal on `u` pulled back through `F`: Eq. 17 exactly.

  `network_dtype` (default `dtype`) is the Keras dtype policy of the
  coupling networks and of `g`; the Householder reflections, the couplings'
  scalings and the log-determinants stay in `dtype`.
  """

  has_density = True

  def __init__(self, config, dtype='float32', network_dtype=None, name='pie',
               **kwargs):
    self.config = config
    flow = _Builder(config, dtype, network_dtype or dtype).conv(
        0, config.image_shape)
    super().__init__(flow, config.image_shape, dtype=dtype, name=name,
                     **kwargs)
    self.latent_size = [s for s in config.linear_sizes if s is not None][-1]
    self.build_flow()
    self.distribution = tfd.TransformedDistribution(
        tfd.Sample(tfd.Normal(tf.constant(0., self.compute_dtype), 1.),
                   [self.code_size]), tfb.Invert(self.flow))

  def restrict(self, u):
    return u[:, :self.latent_size]

  def extend(self, z):
    z = self._check_codes(z, self.latent_size, 'latent codes')
    return tf.pad(z, [[0, 0], [0, self.code_size - self.latent_size]])

  def sample_codes(self, n, seed=None, temperature=1.0, density=False):
    """Codes u = [z, r'] with z ~ N(0, temperature^2 I) (the paper's Fig. 7c
    uses 0.5).

    Args:
      n: how many.
      seed: an int for reproducible draws; None draws anew.
      temperature: the std of every drawn entry.
      density: False, the pseudo-inverse: r' = 0, so that decoding gives
        x = F^-1([z, g(z)]) at every split, the model's mean for z (Eq. 4).
        True, samples of the density `log_prob` scores: r' ~ N(0,
        temperature^2 I) too, so that every dropped part is drawn from
        N(r | g(z), (temperature eps)^2 I). The same seed draws the same z
        either way.
    """
    z = temperature * base.standard_normal(
        (n, self.latent_size), seed, self.compute_dtype)
    if not density:
      return self.extend(z)
    dropped = temperature * base.standard_normal(
        (n, self.code_size - self.latent_size), seed, self.compute_dtype,
        stream=1)
    return tf.concat([z, dropped], axis=1)

  def log_prob(self, x):
    """log p(x) = log N(F(x); 0, I) + log |det dF/dx| (Eq. 17)."""
    return self.distribution.log_prob(self._check_images(x))

  def bits_per_dim(self, pixels, noise=None):
    """Negative log-likelihood in bits per dimension of 8-bit `pixels`
    (values 0..255), dequantized as x = (pixels + noise) / 256 with `noise`
    ~ U[0, 1) (drawn here when not given)."""
    pixels = tf.cast(pixels, self.compute_dtype)
    if noise is None:
      noise = tf.random.uniform(tf.shape(pixels), dtype=pixels.dtype)
    x = (pixels + tf.cast(noise, pixels.dtype)) / 256.
    dims = float(np.prod(self.image_shape))
    return -(self.log_prob(x) - dims * math.log(256.)) / (dims * math.log(2.))


# The paper's MNIST architecture (784 -> 64 -> 10; docs/ARCHITECTURE.md).
base.register_preset('pie_mnist', PieConfig())

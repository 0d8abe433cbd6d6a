"""A convolutional autoencoder that is not invertible: the DCGAN-style
encoder and decoder (Radford et al. 2015) that the PIE paper compares with in
its Table 1, trained as a VAE (`trainers/vae.py`) or a WAE (`trainers/wae.py`).

Encoder: stride-2 4x4 convolutions (`filters`, batch normalization after all
but the first, leaky ReLU 0.2), then a dense layer to the code (to its mean
and log-variance when `variational`). Decoder: the mirror image, a dense
layer to the smallest feature map, stride-2 4x4 transposed convolutions with
batch normalization and ReLU, and a sigmoid to pixels in [0, 1]. Tolstikhin
et al.'s MNIST networks have four convolutions of 128 to 1024 channels;
ours keep two of 64 and 128 (enough for 28x28 digits, a few minutes of CPU).

The code is the latent itself: `code_size == latent_size`,
`encode_full == encode` (the encoder's mean) and `decode_full == decode`;
`decode_full(encode_full(x))` is a reconstruction, not `x`
(`is_invertible` is False).
"""

import dataclasses

import keras
import tensorflow as tf

from official.errors import ConfigError
from official.models import base


@dataclasses.dataclass(frozen=True)
class ConvAutoencoderConfig:
  """Attributes:
    image_shape: (H, W, C); H and W divisible by 2 ** len(filters).
    latent_dims: the code size (the PIE paper's Table 1: 8).
    filters: channels of the encoder's stride-2 convolutions; the decoder
      mirrors them.
    variational: the encoder gives a mean and a log-variance (a VAE's
      posterior) rather than one code.
  """
  image_shape: tuple = None
  latent_dims: int = 8
  filters: tuple = (64, 128)
  variational: bool = False

  def for_data(self, image_shape, num_classes=0):
    del num_classes
    base.check_image_shape(self, image_shape, 'autoencoder')
    stride = 2 ** len(self.filters)
    if image_shape[0] % stride or image_shape[1] % stride:
      raise ConfigError(f'this autoencoder halves the image {len(self.filters)}'
                        f' times: height and width must be multiples of '
                        f'{stride}, got {image_shape[0]}x{image_shape[1]}')
    return dataclasses.replace(self, image_shape=tuple(image_shape))


def _encoder(config, dtype):
  layers = []
  for index, filters in enumerate(config.filters):
    layers.append(keras.layers.Conv2D(filters, 4, 2, 'same', dtype=dtype))
    if index:
      layers.append(keras.layers.BatchNormalization(dtype=dtype))
    layers.append(keras.layers.LeakyReLU(0.2, dtype=dtype))
  outputs = config.latent_dims * (2 if config.variational else 1)
  layers += [keras.layers.Flatten(dtype=dtype),
             keras.layers.Dense(outputs, dtype=dtype)]
  return keras.Sequential(layers, name='encoder')


def _decoder(config, dtype):
  height, width, channels = config.image_shape
  stride = 2 ** len(config.filters)
  smallest = (height // stride, width // stride, config.filters[-1])
  layers = [keras.layers.Dense(smallest[0] * smallest[1] * smallest[2],
                               dtype=dtype),
            keras.layers.BatchNormalization(dtype=dtype),
            keras.layers.ReLU(dtype=dtype),
            keras.layers.Reshape(smallest, dtype=dtype)]
  for filters in reversed(config.filters[:-1]):
    layers += [keras.layers.Conv2DTranspose(filters, 4, 2, 'same',
                                            dtype=dtype),
               keras.layers.BatchNormalization(dtype=dtype),
               keras.layers.ReLU(dtype=dtype)]
  layers += [keras.layers.Conv2DTranspose(channels, 4, 2, 'same',
                                          dtype=dtype),
             keras.layers.Activation('sigmoid', dtype=dtype)]
  return keras.Sequential(layers, name='decoder')


@base.register_model(ConvAutoencoderConfig)
class ConvAutoencoder(base.Autoencoder):
  """The encoder and decoder of `ConvAutoencoderConfig`; N(0, I) prior.

  Example:

  ```python
  import official
  model = official.build_model('conv_autoencoder_mnist', latent_dims=8)
  images = model.sample(16, seed=0)   # (16, 28, 28, 1) in [0, 1]
  codes = model.encode(images)        # (16, 8)
  ```
  """

  def __init__(self, config, dtype='float32', network_dtype=None,
               name='conv_autoencoder'):
    super().__init__(config.image_shape, name=name, dtype=dtype)
    self.config = config
    self.latent_size = config.latent_dims
    self.encoder = _encoder(config, network_dtype or dtype)
    self.decoder = _decoder(config, network_dtype or dtype)
    self.encoder.build((None,) + self.image_shape)
    self.decoder.build((None, self.latent_size))
    self.built = True

  @property
  def code_size(self):
    return self.latent_size

  def posterior(self, x, training=False):
    """(mean, log-variance) of the code of images `x`; the log-variance is
    None unless `variational`."""
    out = tf.cast(self.encoder(self._check_images(x), training=training),
                  self.compute_dtype)
    if not self.config.variational:
      return out, None
    mean, log_variance = tf.split(out, 2, axis=-1)
    return mean, log_variance

  def reconstruct(self, u, training=False):
    """The decoder on codes `u` (batch normalization in training mode when
    `training`)."""
    return tf.cast(self.decoder(u, training=training), self.compute_dtype)

  def encode_full(self, x):
    return self.posterior(x)[0]

  def decode_full(self, u):
    return self.reconstruct(self._check_codes(u, self.code_size, 'codes'))

  def restrict(self, u):
    return u

  def extend(self, z):
    return self._check_codes(z, self.latent_size, 'prior codes')

  def sample_codes(self, n, seed=None, temperature=1.0):
    """`n` draws of N(0, temperature^2 I)."""
    return temperature * base.standard_normal((n, self.latent_size), seed,
                                              self.compute_dtype)


base.register_preset('conv_autoencoder_mnist', ConvAutoencoderConfig(
    image_shape=(28, 28, 1)))

"""The networks inside coupling blocks and splits (they need not be invertible)."""

import keras
import tensorflow as tf

__all__ = ['ConvStack', 'DenseStack', 'ShiftAndLogScale']


def _torch_default_initializer():
  """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for convolutions
  and dense layers, which the papers' reference implementations used."""
  return keras.initializers.VarianceScaling(1. / 3., 'fan_in', 'uniform')


def _output_initializer(zero_init):
  return 'zeros' if zero_init else _torch_default_initializer()


def _is_small(image_shape, kernel_size):
  height, width = image_shape
  return (height is not None and width is not None
          and height * width <= kernel_size * kernel_size)


def _conv_by_taps(layer, inputs):
  """`layer(inputs)` for a stride-1 'same' `Conv2D`, as one matmul per tap.

  On an image no larger than the kernel most taps of each output pixel only
  see padding (5 of 9 for a 3x3 kernel on 2x2 pixels), and convolution
  routines run far below their speed on large images. Here each tap (a, b)
  multiplies only the pixels it meets, `x[i + a - p, j + b - p] @ K[a, b]`,
  and the shifted products are summed: the same function with the same
  weights, and no arithmetic on padding.
  """
  size, pad = layer.kernel_size[0], layer.kernel_size[0] // 2
  _, height, width, channels_in = inputs.shape
  kernel = tf.convert_to_tensor(layer.kernel)
  # Unstacked rather than sliced: the gradient is then one stack, not one
  # kernel-sized scatter per tap.
  taps = tf.unstack(tf.reshape(kernel, [size * size, channels_in, -1]))
  products = []
  for a in range(size):
    for b in range(size):
      rows, cols = a - pad, b - pad
      valid_h, valid_w = height - abs(rows), width - abs(cols)
      if valid_h <= 0 or valid_w <= 0:
        continue
      seen = inputs[:, max(rows, 0):max(rows, 0) + valid_h,
                    max(cols, 0):max(cols, 0) + valid_w, :]
      top, left = max(-rows, 0), max(-cols, 0)
      products.append(tf.pad(
          tf.einsum('bhwi,io->bhwo', seen, taps[a * size + b]),
          [[0, 0], [top, height - valid_h - top],
           [left, width - valid_w - left], [0, 0]]))
  total = tf.add_n(products)
  return layer.activation(tf.nn.bias_add(total, layer.bias))


@keras.saving.register_keras_serializable(package='invertible_ae')
class ConvStack(keras.layers.Layer):
  """conv(k x k, hidden) -> ReLU -> conv(k x k, channels), 'same' padding.

  The RevNet's F and G functions (generative-reversible-networks, Fig. 4):
  `C_in -> hidden -> C_out` with ReLU between the two convolutions. The CelebA
  RevNet's last block uses `kernel_size=1`.

  On images with no more pixels than the kernel has taps (the CelebA RevNet's
  2x2 and 1x1 stages) the convolutions run as per-tap matmuls, several times
  faster on CPU (docs/PERFORMANCE.md).
  """

  def __init__(self, hidden, channels, kernel_size=3, zero_init_output=False,
               **kwargs):
    super().__init__(**kwargs)
    self.hidden = hidden
    self.channels = channels
    self.kernel_size = kernel_size
    self.zero_init_output = zero_init_output

  def build(self, input_shape):
    self.conv_in = keras.layers.Conv2D(
        self.hidden, self.kernel_size, padding='same', activation='relu',
        kernel_initializer=_torch_default_initializer(),
        dtype=self.dtype_policy, name='conv_in')
    self.conv_out = keras.layers.Conv2D(
        self.channels, self.kernel_size, padding='same',
        kernel_initializer=_output_initializer(self.zero_init_output),
        dtype=self.dtype_policy, name='conv_out')
    self.conv_in.build(input_shape)
    self.conv_out.build(tuple(input_shape[:-1]) + (self.hidden,))

  def call(self, inputs):
    if _is_small(inputs.shape[1:3], self.kernel_size):
      return _conv_by_taps(self.conv_out, _conv_by_taps(self.conv_in, inputs))
    return self.conv_out(self.conv_in(inputs))

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.channels,)

  def get_config(self):
    return {**super().get_config(), 'hidden': self.hidden,
            'channels': self.channels, 'kernel_size': self.kernel_size,
            'zero_init_output': self.zero_init_output}


@keras.saving.register_keras_serializable(package='invertible_ae')
class DenseStack(keras.layers.Layer):
  """dense(hidden) -> ReLU -> dense(hidden) -> ReLU -> dense(units)."""

  def __init__(self, hidden, units, zero_init_output=False, **kwargs):
    super().__init__(**kwargs)
    self.hidden = hidden
    self.units = units
    self.zero_init_output = zero_init_output

  def build(self, input_shape):
    self.dense_layers = [
        keras.layers.Dense(self.hidden, activation='relu',
                           kernel_initializer=_torch_default_initializer(),
                           dtype=self.dtype_policy, name='dense_0'),
        keras.layers.Dense(self.hidden, activation='relu',
                           kernel_initializer=_torch_default_initializer(),
                           dtype=self.dtype_policy, name='dense_1'),
        keras.layers.Dense(
            self.units,
            kernel_initializer=_output_initializer(self.zero_init_output),
            dtype=self.dtype_policy, name='dense_out'),
    ]
    shape = tuple(input_shape)
    for layer in self.dense_layers:
      layer.build(shape)
      shape = shape[:-1] + (layer.units,)

  def call(self, inputs):
    for layer in self.dense_layers:
      inputs = layer(inputs)
    return inputs

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.units,)

  def get_config(self):
    return {**super().get_config(), 'hidden': self.hidden,
            'units': self.units, 'zero_init_output': self.zero_init_output}


@keras.saving.register_keras_serializable(package='invertible_ae')
class ShiftAndLogScale(keras.layers.Layer):
  """PIE's coupling network: the conditioning half -> (shift, log_scale).

  A `ConvStack` (images, `conv=True`) or `DenseStack` (vectors) with `2 * units`
  outputs, the last layer zero-initialized so that a new coupling is the
  identity. `log_scale = tanh(raw)` keeps each layer's scale within
  `[1/e, e]`, which keeps deep flows stable; depth supplies the range.
  """

  def __init__(self, hidden, units, conv=False, **kwargs):
    super().__init__(**kwargs)
    self.hidden = hidden
    self.units = units
    self.conv = conv

  def build(self, input_shape):
    if self.conv:
      self.network = ConvStack(self.hidden, 2 * self.units,
                               zero_init_output=True, dtype=self.dtype_policy,
                               name='conv_stack')
    else:
      self.network = DenseStack(self.hidden, 2 * self.units,
                                zero_init_output=True, dtype=self.dtype_policy,
                                name='dense_stack')
    self.network.build(input_shape)

  def call(self, inputs):
    raw = self.network(inputs)
    shift, raw_log_scale = keras.ops.split(raw, 2, axis=-1)
    return shift, keras.ops.tanh(raw_log_scale)

  def get_config(self):
    return {**super().get_config(), 'hidden': self.hidden,
            'units': self.units, 'conv': self.conv}

"""The networks inside coupling blocks and splits (they need not be invertible)."""

import keras
import numpy as np
import tensorflow as tf

__all__ = ['ConvStack', 'DenseStack', 'ShiftAndLogScale']


def _torch_default_initializer():
  """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for the weights of
  convolutions and dense layers (its default biases are drawn alike; ours
  start at 0). The RevNet authors' MNIST optimal-transport notebook replaces
  it with Xavier-uniform (`initializer='xavier'`)."""
  return keras.initializers.VarianceScaling(1. / 3., 'fan_in', 'uniform')


_INITIALIZERS = {'torch': _torch_default_initializer,
                 # torch.nn.init.xavier_uniform_ with gain 1, as the authors'
                 # `init_model_params(model, 1)` (reversible/revnet.py).
                 'xavier': keras.initializers.GlorotUniform}


def _kernel_initializer(name):
  if name not in _INITIALIZERS:
    raise ValueError(f'unknown initializer {name!r}; valid: '
                     f'{", ".join(sorted(_INITIALIZERS))}')
  return _INITIALIZERS[name]()


def _output_initializer(zero_init, name='torch'):
  return 'zeros' if zero_init else _kernel_initializer(name)


def _tap_indices(height, width, size):
  """`[p, q]`: the kernel tap linking input pixel q to output pixel p of a
  'same' convolution (row-major pixels and taps), or `size**2` for none."""
  pad, pixels = size // 2, [(i, j) for i in range(height) for j in range(width)]
  indices = np.full((len(pixels), len(pixels)), size * size)
  for p, (pi, pj) in enumerate(pixels):
    for q, (qi, qj) in enumerate(pixels):
      a, b = qi - pi + pad, qj - pj + pad
      if 0 <= a < size and 0 <= b < size:
        indices[p, q] = a * size + b
  return indices


def _conv_as_matmul(layer, inputs):
  """`layer(inputs)` for a stride-1 'same' `Conv2D`, as matmuls.

  On an image of n pixels, output pixel p of the convolution is the
  flattened image times the matrix that stacks `K[tap(p, q)]` over input
  pixels q (zero where q is out of the kernel's reach). Gathered from the
  kernel, these n matrices cost n^2 C_in C_out multiply-adds per image
  instead of the convolution's n k^2 C_in C_out: 16 instead of 36 blocks for
  a 3x3 kernel on 2x2 pixels, where 5 of every 9 taps only see padding. On
  such images convolution routines also run far below matmul speed.
  """
  outputs = _small_image_conv(inputs, tf.convert_to_tensor(layer.kernel),
                              layer.kernel_size[0])
  return layer.activation(tf.nn.bias_add(outputs, layer.bias))


def _small_image_conv(inputs, kernel, size):
  """The convolution of `_conv_as_matmul`, without bias, with its gradient.

  The kernel's gradient is taken tap by tap, `dK[t] = sum over the pixel
  pairs (p, q) that t links of x_q^T dy_p`: one matmul per tap over the
  stacked pairs, so the gradient of the gathered matrices (16/9 of the
  kernel on 2x2 pixels) is never formed and scattered back. The backward
  pass gathers the matrices again rather than keeping those of the forward
  pass alive in between.
  """
  _, height, width, channels_in = inputs.shape
  pixels, channels_out = height * width, kernel.shape[-1]
  indices = _tap_indices(height, width, size)
  pairs_of_tap = [np.argwhere(indices == t) for t in range(size * size)]

  def gather_matrices(kernel):
    taps = tf.reshape(kernel, [size * size, channels_in, channels_out])
    if np.any(indices == size * size):
      taps = tf.pad(taps, [[0, 1], [0, 0], [0, 0]])  # the zero tap
    # (p, q * C_in, C_out): q-major rows match the flattened NHWC pixels.
    return tf.reshape(tf.gather(taps, indices.reshape(-1)),
                      [pixels, pixels * channels_in, channels_out])

  def by_pixel(images, channels):  # (N, H, W, C) -> (pixels, N, C)
    return tf.transpose(tf.reshape(images, [-1, pixels, channels]), [1, 0, 2])

  @tf.custom_gradient
  def conv(inputs, kernel):
    # Gathered only once the inputs exist: a graph would otherwise build
    # every layer's matrices at the start of the step and hold them all.
    with tf.control_dependencies([inputs]):
      matrices = gather_matrices(kernel)
    flat = tf.reshape(inputs, [1, -1, pixels * channels_in])
    per_pixel = tf.matmul(flat, matrices)  # (p, N, C_out)
    outputs = tf.reshape(tf.transpose(per_pixel, [1, 0, 2]),
                         [-1, height, width, channels_out])

    def grad(d_outputs):
      d_pixels = by_pixel(d_outputs, channels_out)
      with tf.control_dependencies([d_outputs]):
        regathered = gather_matrices(kernel)
      d_flat = tf.reduce_sum(
          tf.matmul(d_pixels, regathered, adjoint_b=True), axis=0)
      x_pixels = by_pixel(inputs, channels_in)
      d_taps = []
      for pairs in pairs_of_tap:
        if not len(pairs):
          d_taps.append(tf.zeros([channels_in, channels_out], kernel.dtype))
          continue
        x = tf.reshape(tf.gather(x_pixels, pairs[:, 1]), [-1, channels_in])
        dy = tf.reshape(tf.gather(d_pixels, pairs[:, 0]), [-1, channels_out])
        d_taps.append(tf.matmul(x, dy, transpose_a=True))
      return (tf.reshape(d_flat, tf.shape(inputs)),
              tf.reshape(tf.stack(d_taps), tf.shape(kernel)))

    return outputs, grad

  return conv(inputs, kernel)


@keras.saving.register_keras_serializable(package='invertible_ae')
class ConvStack(keras.layers.Layer):
  """conv(k x k, hidden) -> ReLU -> conv(k x k, channels), 'same' padding.

  The RevNet's F and G functions (generative-reversible-networks, Fig. 4):
  `C_in -> hidden -> C_out` with ReLU between the two convolutions. The CelebA
  RevNet's last block uses `kernel_size=1`. `initializer` draws the kernels:
  `'torch'`, PyTorch's default, or `'xavier'`, Glorot-uniform; biases start
  at 0.

  On images with no more pixels than the kernel has taps (the RevNets' 2x2
  and the CelebA net's 1x1 stages) each convolution runs as one matmul with
  a matrix gathered from its kernel: the same function and weights, less
  arithmetic, several times faster on CPU (docs/PERFORMANCE.md).
  """

  def __init__(self, hidden, channels, kernel_size=3, zero_init_output=False,
               initializer='torch', **kwargs):
    super().__init__(**kwargs)
    self.hidden = hidden
    self.channels = channels
    self.kernel_size = kernel_size
    self.zero_init_output = zero_init_output
    _kernel_initializer(initializer)  # an unknown name fails here
    self.initializer = initializer

  def build(self, input_shape):
    self.conv_in = keras.layers.Conv2D(
        self.hidden, self.kernel_size, padding='same', activation='relu',
        kernel_initializer=_kernel_initializer(self.initializer),
        dtype=self.dtype_policy, name='conv_in')
    self.conv_out = keras.layers.Conv2D(
        self.channels, self.kernel_size, padding='same',
        kernel_initializer=_output_initializer(self.zero_init_output,
                                               self.initializer),
        dtype=self.dtype_policy, name='conv_out')
    self.conv_in.build(input_shape)
    self.conv_out.build(tuple(input_shape[:-1]) + (self.hidden,))

  def runs_as_matmul(self, image_shape):
    """Whether images of `(height, width)` take the matmul form: known sizes
    with no more pixels than the kernel has taps."""
    height, width = image_shape
    return (height is not None and width is not None
            and height * width <= self.kernel_size ** 2)

  def call(self, inputs):
    if self.runs_as_matmul(inputs.shape[1:3]):
      return _conv_as_matmul(self.conv_out,
                             _conv_as_matmul(self.conv_in, inputs))
    return self.conv_out(self.conv_in(inputs))

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.channels,)

  def get_config(self):
    return {**super().get_config(), 'hidden': self.hidden,
            'channels': self.channels, 'kernel_size': self.kernel_size,
            'zero_init_output': self.zero_init_output,
            'initializer': self.initializer}


@keras.saving.register_keras_serializable(package='invertible_ae')
class DenseStack(keras.layers.Layer):
  """dense(hidden) -> ReLU -> dense(hidden) -> ReLU -> dense(units)."""

  def __init__(self, hidden, units, zero_init_output=False, **kwargs):
    super().__init__(**kwargs)
    self.hidden = hidden
    self.units = units
    self.zero_init_output = zero_init_output

  def build(self, input_shape):
    # One attribute per layer: checkpoints track a sublayer made in `build`
    # through an attribute, not through a list.
    self.dense_0 = keras.layers.Dense(
        self.hidden, activation='relu',
        kernel_initializer=_torch_default_initializer(),
        dtype=self.dtype_policy, name='dense_0')
    self.dense_1 = keras.layers.Dense(
        self.hidden, activation='relu',
        kernel_initializer=_torch_default_initializer(),
        dtype=self.dtype_policy, name='dense_1')
    self.dense_out = keras.layers.Dense(
        self.units, kernel_initializer=_output_initializer(
            self.zero_init_output),
        dtype=self.dtype_policy, name='dense_out')
    shape = tuple(input_shape)
    for layer in self._layers_in_order():
      layer.build(shape)
      shape = shape[:-1] + (layer.units,)

  def _layers_in_order(self):
    return self.dense_0, self.dense_1, self.dense_out

  def call(self, inputs):
    for layer in self._layers_in_order():
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

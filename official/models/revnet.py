"""Generative reversible networks: one RevNet as encoder and decoder."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

import bijectors
import layers
from official.errors import ConfigError
from official.models import base
from official.models.reversible import reversible_apply

tfb = tfp.bijectors


@dataclasses.dataclass(frozen=True)
class RevNetStage:
  """A checkerboard subsampling followed by `blocks` additive couplings whose
  F and G have `hidden` intermediate channels and `kernel_size` kernels."""
  hidden: int
  blocks: int
  kernel_size: int = 3


def _memory_saving(value):
  if value is True or value is False or value == 'auto':
    return value
  raise ConfigError(f"memory_saving must be True, False or 'auto', got "
                    f"{value!r}")


@dataclasses.dataclass(frozen=True)
class RevNetConfig:
  """Architecture and prior of a generative RevNet.

  Attributes:
    image_shape: (H, W, C) of the data.
    pad_to: (H', W') to zero-pad the images to before the flow, or None.
    stages: the `RevNetStage`s; every stage starts with a subsampling, the
      first without splitting into streams.
    num_prior_dims: how many output dimensions carry the prior; the rest are
      clamped to 0 by `decode`.
    num_classes: > 0 adds learnable per-class diagonal Gaussians over the whole
      code (the optimal-transport experiment).
    block_multiplier: repeats every stage's blocks this many times (depth).
    memory_saving: rebuild activations from outputs in the backward pass
      (True), keep them as autodiff does (False, faster), or 'auto': keep
      them when a batch's estimated activations (`activation_mib`) fit
      `activation_budget_mib`, else rebuild them.
    activation_budget_mib: the budget of 'auto', per replica.
    initializer: how F's and G's kernels are drawn: 'torch' (PyTorch's
      default) or 'xavier' (Glorot-uniform, the authors' MNIST OT notebook);
      biases start at 0.
    coupling_order: 'library': each block maps [x1, x2] to
      [x1 + F(x2), x2 + G(y1)] (`bijectors.AdditiveCoupling`); 'authors':
      to [x2 + F(x1), x1 + G(y1)], the authors' `ReversibleBlockOld`, which
      is the library's block after swapping the halves. Chained, the two
      compute different functions of the same weights.

  `image_shape`, `stages`, `num_prior_dims` and `num_classes` may be left
  None for `for_data` to derive from the data.
  """
  image_shape: tuple = None
  stages: tuple = dataclasses.field(default=None,
                                    metadata={'element': RevNetStage})
  num_prior_dims: int = None
  pad_to: tuple = None
  num_classes: int = 0
  block_multiplier: int = 1
  memory_saving: object = dataclasses.field(
      default='auto', metadata={'parse': _memory_saving})
  activation_budget_mib: int = 2048
  initializer: str = 'torch'
  coupling_order: str = 'library'

  def for_data(self, image_shape, num_classes=0):
    """This config for images of `image_shape`: fields left None derived.

    Each side is zero-padded to the next power of two (MNIST: 28 to 32); the
    `stages` subsample until the shorter side is 2 (32x32: 4 stages), with
    2 blocks each and 25, 50, 100, ... hidden channels (at most 400), as the
    papers' RevNets; `num_prior_dims` None keeps every dimension (the
    optimal-transport recipe); `num_classes` None takes the data's.

    Raises:
      official.errors.ConfigError: if the images are too small for one
        stage, or more prior dimensions are asked for than the code has.
    """
    base.check_image_shape(self, image_shape, 'RevNet')
    height, width, channels = image_shape
    pad_to = self.pad_to
    if self.image_shape is None and pad_to is None:
      padded = tuple(1 << (side - 1).bit_length() for side in (height, width))
      pad_to = padded if padded != (height, width) else None
    flow_height, flow_width = pad_to or (height, width)
    stages = self.stages
    if stages is None:
      count = min(flow_height, flow_width).bit_length() - 2
      if count < 1:
        raise ConfigError(f'a RevNet needs images of at least 4x4, got '
                          f'{height}x{width}')
      stages = tuple(RevNetStage(min(25 * 2**i, 400), 2) for i in range(count))
    factor = 2**len(stages)
    if flow_height % factor or flow_width % factor:
      raise ConfigError(f'{len(stages)} stages halve the sides {len(stages)} '
                        f'times: {flow_height}x{flow_width} is not divisible '
                        f'by {factor}; set pad_to')
    code_size = flow_height * flow_width * channels
    prior = self.num_prior_dims or code_size
    if prior > code_size:
      raise ConfigError(f'num_prior_dims {prior} is more than the {code_size} '
                        f'dimensions of the code')
    classes = num_classes if self.num_classes is None else self.num_classes
    return dataclasses.replace(self, image_shape=tuple(image_shape),
                               pad_to=pad_to, stages=stages,
                               num_prior_dims=prior, num_classes=classes)


def _stack_steps(config, flow_shape, network_dtype):
  """The subsamplings and couplings of the RevNet, in the order applied; F
  and G under the Keras dtype policy `network_dtype`."""
  if config.coupling_order not in ('library', 'authors'):
    raise ConfigError(f"coupling_order must be 'library' or 'authors', got "
                      f'{config.coupling_order!r}')
  steps, (height, width, channels) = [], flow_shape
  for index, stage in enumerate(config.stages):
    steps.append(bijectors.CheckerboardSubsample(
        preserve_streams=index > 0, name=f'subsample_{index}'))
    height, width, channels = height // 2, width // 2, channels * 4
    half = channels // 2
    for block in range(stage.blocks * config.block_multiplier):
      if config.coupling_order == 'authors':
        steps.append(tfb.Permute(
            np.roll(np.arange(channels), half), axis=-1,
            name=f'stage{index}_block{block}_swap'))
      networks = [layers.ConvStack(stage.hidden, half, stage.kernel_size,
                                   initializer=config.initializer,
                                   dtype=network_dtype,
                                   name=f'stage{index}_block{block}_{fn}')
                  for fn in ('f', 'g')]
      steps.append(bijectors.AdditiveCoupling(
          *networks, name=f'stage{index}_block{block}'))
  return steps, (height, width, channels)


@base.register_model(RevNetConfig)
class RevNetAutoencoder(base.InvertibleAutoencoder):
  """A RevNet `F` used as encoder (`F`) and decoder (`F^-1`).

  `encode` keeps the `num_prior_dims` output dimensions listed in
  `prior_dims`; `decode` sets all others to 0, the prior's mean, and inverts.
  With `num_classes > 0` the model also holds per-class diagonal Gaussians
  `class_means`, `class_stds` over the whole code, and `sample` can draw per
  class. All of it is model state, saved with the weights.

  `network_dtype` (default `dtype`) is the Keras dtype policy of the F and G
  networks: `'mixed_bfloat16'` runs them in bfloat16 with float32 weights,
  while the couplings add and subtract in `dtype`.
  """

  def __init__(self, config, dtype='float32', network_dtype=None,
               name='revnet', **kwargs):
    flow_shape = tuple(config.pad_to or config.image_shape[:2]) + (
        config.image_shape[2],)
    self.config = config
    self._steps, out_shape = _stack_steps(config, flow_shape,
                                          network_dtype or dtype)
    self._flatten = tfb.Reshape(event_shape_out=[int(np.prod(out_shape))],
                                event_shape_in=list(out_shape))
    self._flow_shape = flow_shape
    # Named: the default name spells out every step and would prefix the
    # name of every op of the flow.
    flow = tfb.Chain([self._flatten] + self._steps[::-1], name=name)
    super().__init__(flow, config.image_shape, dtype=dtype, name=name,
                     **kwargs)
    size = self.code_size
    self.prior_dims = self.add_weight(
        shape=(config.num_prior_dims,), dtype='int32', trainable=False,
        initializer=keras.initializers.Constant(
            np.arange(config.num_prior_dims)), name='prior_dims')
    if config.num_classes:
      self.class_means = self.add_weight(
          shape=(config.num_classes, size), initializer='zeros',
          name='class_means')
      self.class_stds = self.add_weight(
          shape=(config.num_classes, size), initializer='ones',
          name='class_stds')
    self.build_flow()

  @property
  def num_classes(self):
    return self.config.num_classes or 0

  @property
  def latent_size(self):
    """How many dimensions `encode` keeps: the prior dimensions."""
    return self.config.num_prior_dims

  @property
  def steps(self):
    """The subsamplings and couplings, in the order applied to images."""
    return tuple(self._steps)

  @property
  def flow_input_shape(self):
    return self._flow_shape

  def _pad(self, x):
    if self.config.pad_to is None:
      return x
    (h, w), (ph, pw) = self.image_shape[:2], self.config.pad_to
    return tf.pad(x, [[0, 0], [(ph - h) // 2, ph - h - (ph - h) // 2],
                      [(pw - w) // 2, pw - w - (pw - w) // 2], [0, 0]])

  def _crop(self, x):
    if self.config.pad_to is None:
      return x
    (h, w), (ph, pw) = self.image_shape[:2], self.config.pad_to
    top, left = (ph - h) // 2, (pw - w) // 2
    return x[:, top:top + h, left:left + w, :]

  def activation_mib(self, batch_size):
    """The activations plain autodiff keeps for the backward pass of a
    batch, estimated: per coupling block the input, the hidden activations
    (before and after the ReLU) and the output of F and of G; per
    subsampling its output; in the model's dtype."""
    (height, width, channels), values = self._flow_shape, 0
    for stage in self.config.stages:
      height, width, channels = height // 2, width // 2, channels * 4
      blocks = stage.blocks * self.config.block_multiplier
      values += height * width * (
          channels + blocks * 2 * (channels + 2 * stage.hidden))
    itemsize = tf.as_dtype(self.compute_dtype).size
    return batch_size * values * itemsize / 2**20

  def uses_memory_saving(self, batch_size):
    """Whether a batch of `batch_size` (None: unknown) runs with
    memory-saving gradients."""
    if self.config.memory_saving != 'auto':
      return self.config.memory_saving
    return batch_size is None or (self.activation_mib(batch_size) >
                                  self.config.activation_budget_mib)

  def _flow_forward(self, x):
    x = self._pad(x)
    if self.uses_memory_saving(x.shape[0]):
      return self._flatten.forward(reversible_apply(self._steps, x))
    return self.flow.forward(x)

  def _flow_inverse(self, u):
    if self.uses_memory_saving(u.shape[0]):
      x = reversible_apply(self._steps, self._flatten.inverse(u), inverse=True)
    else:
      x = self.flow.inverse(u)
    return self._crop(x)

  def restrict(self, u):
    return tf.gather(u, self.prior_dims, axis=-1)

  def extend(self, z):
    z = self._check_codes(z, self.config.num_prior_dims, 'prior codes')
    placement = tf.one_hot(self.prior_dims, self.code_size, dtype=z.dtype)
    return tf.matmul(z, placement)

  def sample_codes(self, n, labels=None, seed=None, temperature=1.0):
    """Codes of `n` prior draws: N(0, I) on the prior dimensions, or, for a
    class-conditional model, the Gaussians of `labels` (default: 0, 1, ...).
    `temperature` multiplies the prior's standard deviations."""
    if not self.config.num_classes:
      return self.extend(temperature * base.standard_normal(
          (n, self.config.num_prior_dims), seed, self.compute_dtype))
    if labels is None:
      labels = tf.range(n) % self.config.num_classes
    noise = base.standard_normal((n, self.code_size), seed, self.compute_dtype)
    means = tf.gather(self.class_means, labels)
    stds = tf.gather(self.class_stds, labels)
    return means + temperature * stds * noise

  def set_prior_dims_from_codes(self, codes):
    """Chooses the prior dimensions as those of largest std over `codes`, the
    outputs of the (untrained) net on a pass of data (paper, Sec. 3.1)."""
    std = np.std(np.asarray(codes, np.float64), axis=0)
    top = np.argsort(-std, kind='stable')[:self.config.num_prior_dims]
    self.prior_dims.assign(np.sort(top).astype(np.int32))

  def set_class_gaussians_from_codes(self, codes, labels):
    """Initializes each class's Gaussian to the mean and std of its codes; a
    class absent from `labels` gets those of all codes."""
    codes, labels = np.asarray(codes, np.float64), np.asarray(labels)
    for name, stat in (('class_means', np.mean), ('class_stds', np.std)):
      values = np.stack([
          stat(codes[labels == c] if np.any(labels == c) else codes, axis=0)
          for c in range(self.config.num_classes)])
      getattr(self, name).assign(values.astype(self.compute_dtype))


# The papers' architectures (docs/ARCHITECTURE.md has their shapes).
base.register_preset('revnet_celeba64', RevNetConfig(
    image_shape=(64, 64, 3),
    stages=(RevNetStage(25, 2), RevNetStage(50, 2), RevNetStage(100, 2),
            RevNetStage(200, 2), RevNetStage(400, 2),
            RevNetStage(400, 1, kernel_size=1)),
    num_prior_dims=64))
base.register_preset('revnet_mnist', RevNetConfig(
    image_shape=(28, 28, 1), pad_to=(32, 32),
    stages=(RevNetStage(25, 2), RevNetStage(50, 2), RevNetStage(100, 2),
            RevNetStage(200, 2)),
    num_prior_dims=1024, num_classes=10,
    # 2.1M parameters: at batch 256 plain autodiff keeps about 110 MiB of
    # activations and is about 20% faster (docs/PERFORMANCE.md).
    memory_saving=False))

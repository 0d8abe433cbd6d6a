"""Keras 3 layers: coupling networks, spectral-normalized dense, the adversary."""

from layers.coupling_networks import ConvStack
from layers.coupling_networks import DenseStack
from layers.coupling_networks import ShiftAndLogScale
from layers.discriminator import ConcatenatedReLU
from layers.discriminator import Discriminator
from layers.spectral_norm_dense import SpectralNormDense

__all__ = ['ConcatenatedReLU', 'ConvStack', 'DenseStack', 'Discriminator',
           'ShiftAndLogScale', 'SpectralNormDense']

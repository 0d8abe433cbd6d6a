"""Keras 3 layers: coupling networks, spectral-normalized dense, the adversary."""

from layers.coupling_networks import ConvStack
from layers.coupling_networks import DenseStack
from layers.coupling_networks import ShiftAndLogScale

__all__ = ['ConvStack', 'DenseStack', 'ShiftAndLogScale']

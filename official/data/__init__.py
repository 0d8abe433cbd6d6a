"""Data: the bundled offline MNIST and the input pipelines."""

from official.data.mnist import DataError
from official.data.mnist import load_mnist

__all__ = ['DataError', 'load_mnist']

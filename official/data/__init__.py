"""Data: the bundled offline MNIST and the input pipelines."""

from official.data.mnist import load_mnist
from official.errors import DataError

__all__ = ['DataError', 'load_mnist']

"""Data: the sources (one module each, registered by dataset name) and the
input pipelines built from them."""

from official import registry
from official.data.mnist import load_mnist
from official.errors import DataError

# A new source is one module here: it registers itself (`source.register`).
registry.import_submodules(__name__, __path__)

__all__ = ['DataError', 'load_mnist']

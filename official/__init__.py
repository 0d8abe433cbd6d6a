"""Experiments, models, data, evaluation, export and the absl entry points."""

__all__ = ['build_model']


def __getattr__(name):
  # Imported on first use, so that `python -m official.train` can start
  # TensorFlow quietly (official/cli.py) before anything imports it.
  if name == 'build_model':
    from official.models import build_model  # pylint: disable=g-import-not-at-top
    return build_model
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')

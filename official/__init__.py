"""Experiments, models, data, evaluation, export and the absl entry points."""

from official.models import build_model

__all__ = ['build_model']

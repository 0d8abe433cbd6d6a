"""Evaluation: FID and the papers' other metrics."""

"""``standardisation``: per-channel mean and standard deviation of the training split."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

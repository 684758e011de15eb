"""``evaluation``: test-set error, confusion matrices, misclassified digits, learned kernels, curves."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

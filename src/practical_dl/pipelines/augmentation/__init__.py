"""``augmentation``: checks the augmentation parameters and draws a preview of what they do."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

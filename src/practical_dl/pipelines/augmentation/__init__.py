"""``augmentation``: checks the augmentation parameters and draws a preview of what they do."""

from practical_dl.pipelines.augmentation.pipeline import create_pipeline

__all__ = ["create_pipeline"]

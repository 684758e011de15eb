"""``evaluation``: test-set error, confusion matrices, misclassified digits, learned kernels, curves."""

from practical_dl.pipelines.evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]

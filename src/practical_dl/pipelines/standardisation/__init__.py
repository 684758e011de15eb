"""``standardisation``: per-channel mean and standard deviation of the training split."""

from practical_dl.pipelines.standardisation.pipeline import create_pipeline

__all__ = ["create_pipeline"]

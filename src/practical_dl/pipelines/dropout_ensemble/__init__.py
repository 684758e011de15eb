"""Dropout as an ensemble: dropout networks against averages of independently trained networks."""

from practical_dl.pipelines.dropout_ensemble.pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""The ``predict`` pipeline: the trained classifiers on a folder of a person's own images."""

from practical_dl.pipelines.predict.pipeline import create_pipeline

__all__ = ["create_pipeline"]

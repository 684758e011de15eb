"""The ``predict`` pipeline: the trained classifiers on a folder of a person's own images."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

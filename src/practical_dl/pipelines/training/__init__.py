"""``training``: one namespaced training sub-pipeline per model listed in ``trained_models``."""

from practical_dl.pipelines.training.pipeline import create_pipeline

__all__ = ["create_pipeline"]

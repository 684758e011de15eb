"""A targeted adversarial patch (the lecture's physical-world attacks) against every trained classifier."""

from practical_dl.pipelines.patch.pipeline import create_pipeline

__all__ = ["create_pipeline"]

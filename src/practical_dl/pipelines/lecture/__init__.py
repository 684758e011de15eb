"""``lecture``: the page of what the lecture's claims came to (``kedro run --pipelines lecture`` runs every part first)."""

from practical_dl.pipelines.lecture.pipeline import create_pipeline

__all__ = ["create_pipeline"]

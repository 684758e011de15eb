"""``tricks``: the lecture's tricks of the trade as sweeps of tracked, comparable training runs,
and a regression example with a standardised target."""

from practical_dl.pipelines.tricks.pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""Batch size against learning rate: the lecture's claim that small batches need a lower learning rate."""

from practical_dl.pipelines.batch_lr.pipeline import create_pipeline

__all__ = ["create_pipeline"]

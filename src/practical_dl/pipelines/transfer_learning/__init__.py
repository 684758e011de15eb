"""``transfer_learning``: fine-tuning versus feature extraction versus training from scratch,
over budgets of labelled target images."""

from practical_dl.pipelines.transfer_learning.pipeline import create_pipeline

__all__ = ["create_pipeline"]

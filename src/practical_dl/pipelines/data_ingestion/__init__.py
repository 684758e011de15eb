"""``data_ingestion``: raw IDX files -> validated, seeded, stratified train/validation/test splits."""

from practical_dl.pipelines.data_ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]

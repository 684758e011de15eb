"""``data_ingestion``: raw IDX files -> validated, seeded, stratified train/validation/test splits."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

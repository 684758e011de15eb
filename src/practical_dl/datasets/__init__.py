"""Kedro datasets of the project."""

from practical_dl.datasets.bytes_dataset import BytesDataset
from practical_dl.datasets.classifier_dataset import ClassifierDataset
from practical_dl.datasets.idx_dataset import IDXDataset, encode_idx, parse_idx
from practical_dl.datasets.versioned_artifact import VersionedMlflowArtifactDataset

__all__ = ["BytesDataset", "ClassifierDataset", "IDXDataset", "VersionedMlflowArtifactDataset", "encode_idx", "parse_idx"]

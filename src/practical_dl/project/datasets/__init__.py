"""Kedro datasets of the project: the classes a catalog entry names as its ``type:`` (reading and
writing files). They are not PyTorch data sets: what feeds a model batches on its device is
:class:`practical_dl.core.batches.BatchSource` (the whole split resident, or a ``DataLoader``)."""

from practical_dl.project.datasets.bytes_dataset import BytesDataset
from practical_dl.project.datasets.classifier_dataset import ClassifierDataset
from practical_dl.project.datasets.figure_dataset import FigureDataset
from practical_dl.project.datasets.idx_dataset import IDXDataset, encode_idx, parse_idx
from practical_dl.project.datasets.report_dataset import PageDataset, ReportDataset
from practical_dl.project.datasets.run_record_dataset import RunRecordDataset
from practical_dl.project.datasets.typed_json import TypedJSONDataset
from practical_dl.project.datasets.versioned_artifact import VersionedMlflowArtifactDataset

__all__ = [
    "BytesDataset",
    "ClassifierDataset",
    "FigureDataset",
    "IDXDataset",
    "PageDataset",
    "ReportDataset",
    "RunRecordDataset",
    "TypedJSONDataset",
    "VersionedMlflowArtifactDataset",
    "encode_idx",
    "parse_idx",
]

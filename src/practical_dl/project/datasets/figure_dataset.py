"""Kedro dataset of a figure: saved as kedro-datasets' ``MatplotlibDataset`` saves it, read back as the
image file's bytes (``MatplotlibDataset`` itself cannot be read), e.g. for the lecture's page."""

from __future__ import annotations

import fsspec
from kedro.io.core import get_filepath_str
from kedro_datasets.matplotlib import MatplotlibDataset


class FigureDataset(MatplotlibDataset):
    """A matplotlib figure written as an image; ``load()`` gives the file's bytes (PNG for a ``.png``)::

    batch_lr_plot:
      type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
      dataset: {type: practical_dl.project.datasets.FigureDataset, filepath: data/08_reporting/batch_lr/heat_map.png}
      artifact_path: plots/batch_lr
    """

    def load(self) -> bytes:
        with fsspec.open(get_filepath_str(self._get_load_path(), self.protocol), "rb") as f:
            return f.read()

    @property
    def protocol(self) -> str:
        """The file system's protocol (``file`` for a local path)."""
        return str(self._describe().get("protocol") or "file")

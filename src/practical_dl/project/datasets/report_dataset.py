"""Kedro datasets of the project's pages: a pipeline's :class:`~practical_dl.project.reporting.Report`
(its markdown and, beside it, the same report as JSON, claims typed), and a finished text page
(markdown or HTML). kedro-viz previews both in its side panel."""

from __future__ import annotations

import json
import logging
from pathlib import Path, PurePosixPath
from typing import Any, NewType

import fsspec
from kedro.io.core import AbstractDataset, get_filepath_str, get_protocol_and_path
from kedro_datasets.text import TextDataset

from practical_dl.project.reporting import Report, render_report, report_from_dict, report_to_dict

logger = logging.getLogger(__name__)

#: kedro-viz shows a preview by its return annotation's name: ``HTMLPreview`` renders HTML and markdown
#: (kedro-datasets defines the same type in a private module, ``kedro_datasets._typing``)
HTMLPreview = NewType("HTMLPreview", str)


class ReportDataset(AbstractDataset[Report, Report]):
    """A report saved as its markdown (:func:`~practical_dl.project.reporting.render_report`, the one
    renderer) and, beside it, as JSON (``report.md`` → ``report.json``: title, claims with their
    verdicts and numbers, tables as markdown); it loads back from the JSON::

    tricks_report:
      type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
      dataset: {type: practical_dl.project.datasets.ReportDataset, filepath: data/08_reporting/tricks/report.md}
      artifact_path: reports/tricks

    Wrapped by kedro-mlflow's ``MlflowArtifactDataset``, the markdown is logged to the run by it and
    the JSON beside it by this dataset, under the same ``artifact_path``.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        self._fs = fsspec.filesystem(protocol, **({"auto_mkdir": True} if protocol == "file" else {}))
        self.metadata = metadata

    @property
    def json_path(self) -> PurePosixPath:
        """Where the report's JSON lies: beside the markdown, with the suffix ``.json``."""
        return self._filepath.with_suffix(".json")

    def _full(self, path: PurePosixPath) -> str:
        return get_filepath_str(path, self._protocol)

    def load(self) -> Report:
        with self._fs.open(self._full(self.json_path), "r", encoding="utf-8") as f:
            return report_from_dict(json.load(f))

    def save(self, data: Report) -> None:
        if not isinstance(data, Report):
            raise TypeError(f"{self._filepath}: expected a Report, got {type(data).__name__}")
        with self._fs.open(self._full(self._filepath), "w", encoding="utf-8") as f:
            f.write(render_report(data))
        with self._fs.open(self._full(self.json_path), "w", encoding="utf-8") as f:
            json.dump(report_to_dict(data), f, indent=1, ensure_ascii=False)
            f.write("\n")
        self._log_json_beside_markdown()

    def _log_json_beside_markdown(self) -> None:
        """Log the JSON to MLflow where kedro-mlflow logs the markdown (it sets ``artifact_path`` and ``run_id``)."""
        if not hasattr(self, "artifact_path"):
            return  # not wrapped by MlflowArtifactDataset: nothing is logged
        import mlflow

        run_id = getattr(self, "run_id", None)
        local = Path(self._full(self.json_path)).as_posix()
        if run_id:
            mlflow.MlflowClient().log_artifact(run_id, local, self.artifact_path)
        elif mlflow.active_run() is not None:
            mlflow.log_artifact(local, self.artifact_path)

    def _exists(self) -> bool:
        return self._fs.exists(self._full(self._filepath)) and self._fs.exists(self._full(self.json_path))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "json": self.json_path, "protocol": self._protocol}

    def preview(self) -> HTMLPreview:
        """The markdown, for kedro-viz's side panel."""
        with self._fs.open(self._full(self._filepath), "r", encoding="utf-8") as f:
            return HTMLPreview(f.read())


class PageDataset(TextDataset):
    """A finished text page (markdown or self-contained HTML), previewed in kedro-viz's side panel."""

    def preview(self) -> HTMLPreview:
        """The page's text: kedro-viz renders its HTML, and its markdown's headings, lists and tables."""
        return HTMLPreview(self.load())

"""Kedro dataset of the run record (:class:`~practical_dl.project.run_record.RunRecord`): one JSON
file that the run record hook rewrites after every node, and the lecture's page reads."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset

from practical_dl.project.run_record import RunRecord

logger = logging.getLogger(__name__)


class RunRecordDataset(AbstractDataset[RunRecord, RunRecord]):
    """The record of every node's last run, in a local JSON file::

    node_runs:
      type: practical_dl.project.datasets.RunRecordDataset
      filepath: data/08_reporting/node_runs.json

    No file yet is an empty record (it always exists: no run yet is a state, not a missing input); a
    file that cannot be read is an empty record too, said in a warning. Each save replaces the file
    at once (written beside it, then renamed), so a run stopped while saving leaves the last whole record.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> RunRecord:
        if not self._filepath.is_file():
            return RunRecord()
        try:
            return RunRecord.model_validate(json.loads(self._filepath.read_text(encoding="utf-8")))
        except ValueError as exc:
            logger.warning("%s cannot be read (%s): starting an empty run record", self._filepath, exc)
            return RunRecord()

    def save(self, data: RunRecord) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._filepath.with_name(f".{self._filepath.name}.{os.getpid()}.tmp")  # one per process
        try:
            temporary.write_text(data.model_dump_json(indent=1), encoding="utf-8")
            os.replace(temporary, self._filepath)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath.as_posix()}

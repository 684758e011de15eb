"""Kedro dataset of a :class:`~practical_dl.models.classifier.DigitClassifier` (one safetensors file)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import fsspec
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version, get_filepath_str, get_protocol_and_path

if TYPE_CHECKING:  # torch is imported when a classifier is read or written, not when the catalog is built
    from practical_dl.models.classifier import DigitClassifier


class ClassifierDataset(AbstractVersionedDataset["DigitClassifier", "DigitClassifier"]):
    """A trained classifier with its standardisation, class names and input size, in safetensors.

    Example catalog entry (wrapped by ``VersionedMlflowArtifactDataset`` in this project, so every
    run keeps a version and logs the file to MLflow)::

        simplenet.classifier:
          type: practical_dl.project.datasets.ClassifierDataset
          filepath: data/06_models/simplenet.safetensors
          versioned: true
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        fs_args = dict(fs_args or {})
        if protocol == "file":
            fs_args.setdefault("auto_mkdir", True)  # the version's folder
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **fs_args)
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(path), version=version, exists_function=self._fs.exists, glob_function=self._fs.glob)

    def load(self) -> DigitClassifier:
        from practical_dl.models.classifier import classifier_from_bytes

        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, "rb") as f:
            data = f.read()
        try:
            return classifier_from_bytes(data, path)
        except ValueError as exc:
            raise DatasetError(str(exc)) from None

    def save(self, data: DigitClassifier) -> None:
        from practical_dl.models.classifier import classifier_to_bytes

        path = get_filepath_str(self._get_save_path(), self._protocol)
        payload = classifier_to_bytes(data)
        with self._fs.open(path, "wb") as f:
            f.write(payload)
        self._invalidate_cache()

    def _exists(self) -> bool:
        try:
            path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(path)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}

    def _release(self) -> None:
        super()._release()
        self._invalidate_cache()

    def _invalidate_cache(self) -> None:
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))

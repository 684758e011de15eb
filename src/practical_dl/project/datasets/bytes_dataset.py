"""Kedro dataset of a file's raw bytes: what a folder of a person's images is read as, so that a
file that is not an image still loads (and is reported) instead of failing the run."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractDataset, get_filepath_str, get_protocol_and_path


class FileTooLargeError(ValueError):
    """A file above the dataset's ``max_bytes``: not read."""


class BytesDataset(AbstractDataset[bytes, bytes]):
    """The bytes of one file, e.g. inside a ``partitions.PartitionedDataset``::

    my_digits:
      type: partitions.PartitionedDataset
      path: data/01_raw/my_digits
      dataset: {type: practical_dl.project.datasets.BytesDataset, max_bytes: 200000000}

    A file larger than ``max_bytes`` raises :class:`FileTooLargeError` (naming it) instead of being read.
    """

    def __init__(
        self,
        *,
        filepath: str,
        max_bytes: int | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        fs_args = dict(fs_args or {})
        if protocol == "file":
            fs_args.setdefault("auto_mkdir", True)  # the version's folder
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **fs_args)
        self._max_bytes = max_bytes
        self.metadata = metadata

    def load(self) -> bytes:
        path = get_filepath_str(self._filepath, self._protocol)
        if self._max_bytes is not None:
            size = self._fs.size(path)
            if size > self._max_bytes:
                raise FileTooLargeError(f"{path}: {size:,} bytes is more than the limit of {self._max_bytes:,} bytes")
        with self._fs.open(path, "rb") as f:
            return f.read()

    def save(self, data: bytes) -> None:
        with self._fs.open(get_filepath_str(self._filepath, self._protocol), "wb") as f:
            f.write(data)

    def _exists(self) -> bool:
        return self._fs.exists(get_filepath_str(self._filepath, self._protocol))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol}

"""Kedro dataset for IDX files, the format of MNIST, Fashion-MNIST and KMNIST.

An IDX file is a big-endian header followed by raw array bytes::

    magic: 0x00 0x00 <dtype code> <number of dimensions>
    one uint32 per dimension
    prod(dims) * itemsize bytes of data

Files may be gzip-compressed (detected from the content, not the name).
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import PurePosixPath
from typing import Any

import fsspec
import numpy as np
from kedro.io.core import AbstractDataset, DatasetError, get_filepath_str, get_protocol_and_path

#: IDX type codes and the big-endian numpy dtype each stands for.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into an array in native byte order.

    Raises:
        ValueError: naming ``source`` when the magic number, dimensions or byte count are wrong.
    """
    if len(raw) < 4:
        raise ValueError(f"{source}: {len(raw)} bytes is too short for an IDX header")
    zero0, zero1, code, ndim = raw[:4]
    if zero0 != 0 or zero1 != 0 or code not in IDX_DTYPES:
        raise ValueError(
            f"{source}: wrong IDX magic number 0x{raw[:4].hex()} "
            f"(expected 0x0000TTNN with type code TT in {sorted(hex(c) for c in IDX_DTYPES)})"
        )
    if ndim == 0:
        raise ValueError(f"{source}: IDX header declares 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{source}: truncated IDX header ({len(raw)} of {header_size} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:header_size])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_size
    if actual != expected:
        kind = "truncated" if actual < expected else "has trailing bytes"
        raise ValueError(
            f"{source}: IDX file {kind}: header says dims {tuple(dims)} of {dtype.name} ({expected} data bytes), file holds {actual}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(dims)
    return data.astype(dtype.newbyteorder("="), copy=True)


def encode_idx(data: np.ndarray) -> bytes:
    """Encode an array as IDX bytes (the inverse of :func:`parse_idx`)."""
    data = np.asarray(data)
    matches = [(c, d) for c, d in IDX_DTYPES.items() if data.dtype.kind == d.kind and data.dtype.itemsize == d.itemsize]
    if not matches:
        raise ValueError(f"dtype {data.dtype} cannot be stored in IDX")
    code, dtype = matches[0]
    if data.ndim == 0 or data.ndim > 255:
        raise ValueError(f"IDX stores 1 to 255 dimensions, got {data.ndim}")
    header = bytes([0, 0, code, data.ndim]) + struct.pack(f">{data.ndim}I", *data.shape)
    return header + np.ascontiguousarray(data, dtype=dtype).tobytes()


class IDXDataset(AbstractDataset[np.ndarray, np.ndarray]):
    """Loads and saves one IDX file (plain or gzip) as a numpy array.

    Example catalog entry::

        mnist_train_images:
          type: practical_dl.project.datasets.IDXDataset
          filepath: data/01_raw/mnist/train-images-idx3-ubyte.gz
          ndim: 3

    Args:
        filepath: path or fsspec URL of the file; a ``.gz`` suffix makes ``save`` compress.
        ndim: if given, the number of dimensions the file must have (3 for images, 1 for labels).
        dtype: if given, the dtype the file must hold (e.g. ``uint8``).
        checksums: if given, a ``SHA256SUMS`` file (``<sha256>  <file name>`` per line, as
            ``sha256sum`` writes it; a relative path is taken from the data file's folder) that
            must list this file with the sha256 of its bytes; a mismatch names the file and both digests.
        fs_args, credentials: passed to fsspec.
        metadata: free-form metadata (e.g. the kedro-viz layer); ignored by Kedro.
    """

    def __init__(
        self,
        *,
        filepath: str,
        ndim: int | None = None,
        dtype: str | None = None,
        checksums: str | None = None,
        fs_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))
        self._ndim = ndim
        self._dtype = np.dtype(dtype) if dtype is not None else None
        self._checksums = None
        if checksums:
            sums = PurePosixPath(get_protocol_and_path(checksums)[1])
            self._checksums = str(sums if sums.is_absolute() or "://" in checksums else self._filepath.parent / sums)
        self.metadata = metadata

    def _verify(self, path: str, raw: bytes) -> None:
        """Compare the file's sha256 with its line in the checksums file."""
        sums_path = get_filepath_str(PurePosixPath(self._checksums), self._protocol)
        try:
            with self._fs.open(sums_path, "r") as f:
                listed = dict(reversed(line.split(maxsplit=1)) for line in f.read().splitlines() if line.strip())
        except FileNotFoundError:
            raise DatasetError(f"{path}: the checksums file {sums_path} does not exist") from None
        name = self._filepath.name
        expected = listed.get(name, listed.get(f"*{name}"))  # sha256sum's binary-mode marker
        if expected is None:
            raise DatasetError(f"{path}: {sums_path} lists no checksum for {name}")
        actual = hashlib.sha256(raw).hexdigest()
        if actual != expected.lower():
            raise DatasetError(
                f"{path}: sha256 mismatch: {sums_path} says {expected}, the file has {actual}; the file is corrupt or not the one shipped"
            )

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "protocol": self._protocol,
            "ndim": self._ndim,
            "dtype": str(self._dtype),
            "checksums": self._checksums,
        }

    def load(self) -> np.ndarray:
        path = get_filepath_str(self._filepath, self._protocol)
        with self._fs.open(path, "rb") as f:
            raw = f.read()
        if self._checksums:
            self._verify(path, raw)
        if raw[:2] == _GZIP_MAGIC:
            try:
                raw = gzip.decompress(raw)
            except (EOFError, OSError, gzip.BadGzipFile) as exc:
                raise DatasetError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
        try:
            data = parse_idx(raw, source=path)
        except ValueError as exc:
            raise DatasetError(str(exc)) from exc
        if self._ndim is not None and data.ndim != self._ndim:
            raise DatasetError(f"{path}: expected {self._ndim} dimensions, file has shape {data.shape}")
        if self._dtype is not None and data.dtype != self._dtype:
            raise DatasetError(f"{path}: expected dtype {self._dtype}, file holds {data.dtype}")
        return data

    def save(self, data: np.ndarray) -> None:
        path = get_filepath_str(self._filepath, self._protocol)
        raw = encode_idx(data)
        if self._filepath.suffix == ".gz":
            raw = gzip.compress(raw, mtime=0)
        with self._fs.open(path, "wb") as f:
            f.write(raw)

    def _exists(self) -> bool:
        return self._fs.exists(get_filepath_str(self._filepath, self._protocol))

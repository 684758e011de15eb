import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from kedro.io.core import DatasetError

from practical_dl.project.datasets import IDXDataset, encode_idx, parse_idx
from tests.conftest import ROOT

RAW = ROOT / "data" / "01_raw" / "mnist"


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(7, 5, 4), dtype=np.uint8)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, images, suffix):
    ds = IDXDataset(filepath=str(tmp_path / f"x-idx3-ubyte{suffix}"))
    ds.save(images)
    assert ds.exists()
    loaded = ds.load()
    np.testing.assert_array_equal(loaded, images)
    assert loaded.dtype == np.uint8
    raw = (tmp_path / f"x-idx3-ubyte{suffix}").read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == (suffix == ".gz")


def test_header_layout_matches_the_format(images):
    raw = encode_idx(images)
    assert raw[:4] == bytes([0, 0, 0x08, 3])
    assert int.from_bytes(raw[4:8], "big") == 7
    assert len(raw) == 4 + 3 * 4 + images.size


def test_other_dtypes_round_trip():
    data = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    np.testing.assert_array_equal(parse_idx(encode_idx(data)), data)


def _write(path: Path, raw: bytes, compress: bool = False) -> str:
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return str(path)


def test_wrong_magic_names_the_file(tmp_path, images):
    raw = bytearray(encode_idx(images))
    raw[2] = 0x42
    path = _write(tmp_path / "bad-magic", bytes(raw))
    with pytest.raises(DatasetError, match=r"bad-magic.*wrong IDX magic number"):
        IDXDataset(filepath=path).load()


def test_non_zero_leading_bytes_are_wrong_magic(tmp_path, images):
    raw = b"\x01" + encode_idx(images)[1:]
    with pytest.raises(DatasetError, match="magic"):
        IDXDataset(filepath=_write(tmp_path / "f", raw)).load()


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_data(tmp_path, images, compress):
    raw = encode_idx(images)[:-3]
    path = _write(tmp_path / "short.gz", raw, compress)
    with pytest.raises(DatasetError, match=r"short\.gz.*truncated.*\(7, 5, 4\)"):
        IDXDataset(filepath=path).load()


def test_trailing_bytes(tmp_path, images):
    path = _write(tmp_path / "long", encode_idx(images) + b"\0")
    with pytest.raises(DatasetError, match="trailing bytes"):
        IDXDataset(filepath=path).load()


def test_truncated_header(tmp_path, images):
    path = _write(tmp_path / "hdr", encode_idx(images)[:9])
    with pytest.raises(DatasetError, match="truncated IDX header"):
        IDXDataset(filepath=path).load()


def test_truncated_gzip_stream(tmp_path, images):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(encode_idx(images))[:-10])
    with pytest.raises(DatasetError, match=r"cut\.gz.*corrupt or truncated gzip"):
        IDXDataset(filepath=str(path)).load()


def test_expected_dimensions_and_dtype_are_checked(tmp_path, images):
    path = _write(tmp_path / "imgs", encode_idx(images))
    with pytest.raises(DatasetError, match="expected 1 dimensions"):
        IDXDataset(filepath=path, ndim=1).load()
    with pytest.raises(DatasetError, match="expected dtype int32"):
        IDXDataset(filepath=path, dtype="int32").load()


def test_missing_file_does_not_exist(tmp_path):
    assert not IDXDataset(filepath=str(tmp_path / "nope.gz")).exists()


def test_shipped_mnist_test_set_loads():
    images = IDXDataset(filepath=str(RAW / "t10k-images-idx3-ubyte.gz"), ndim=3).load()
    labels = IDXDataset(filepath=str(RAW / "t10k-labels-idx1-ubyte.gz"), ndim=1).load()
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,) and set(np.unique(labels)) == set(range(10))


def _dataset_with_sums(tmp_path, sums_line: str | None):
    path = tmp_path / "labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(encode_idx(np.arange(10, dtype=np.uint8)), mtime=0))
    if sums_line is not None:
        (tmp_path / "SHA256SUMS").write_text(sums_line.format(name=path.name) + "\n")
    return IDXDataset(filepath=str(path), ndim=1, checksums="SHA256SUMS"), path


def test_checksums_verified_and_a_mismatch_names_the_file_and_both_digests(tmp_path):
    dataset, path = _dataset_with_sums(tmp_path, "{digest}  {{name}}".format(digest="0" * 64))
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(DatasetError, match=rf"labels-idx1-ubyte\.gz: sha256 mismatch: .*SHA256SUMS says 0{{64}}, the file has {actual}"):
        dataset.load()
    (tmp_path / "SHA256SUMS").write_text(f"{actual}  {path.name}\n")
    assert dataset.load().tolist() == list(range(10))


def test_checksums_file_missing_or_without_the_file(tmp_path):
    dataset, _ = _dataset_with_sums(tmp_path, None)
    with pytest.raises(DatasetError, match="the checksums file .*SHA256SUMS does not exist"):
        dataset.load()
    dataset, _ = _dataset_with_sums(tmp_path, "{digest}  other-file.gz".format(digest="0" * 64))
    with pytest.raises(DatasetError, match=r"SHA256SUMS lists no checksum for labels-idx1-ubyte\.gz"):
        dataset.load()


def test_the_shipped_mnist_matches_its_checksums():
    root = ROOT / "data" / "01_raw" / "mnist"
    labels = IDXDataset(filepath=str(root / "t10k-labels-idx1-ubyte.gz"), ndim=1, checksums="SHA256SUMS").load()
    assert labels.shape == (10000,)

import re

import numpy as np
import pytest

from practical_dl.core.params import ParameterError
from practical_dl.pipelines.data_ingestion.nodes import (
    DataIngestionParameters,
    prepare_test_split,
    split_train_validation,
    stratified_indices,
    validate_images_and_labels,
)

RAW = {"validation_size": 0.2, "seed": 3, "num_classes": 10, "train_limit": None, "test_limit": None}


def ingestion(**changes) -> DataIngestionParameters:
    return DataIngestionParameters.from_dict({**RAW, **changes}, "data_ingestion")


PARAMS = ingestion()


@pytest.fixture
def raw():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10, dtype=np.uint8), [50, 60, 70, 80, 90, 100, 110, 120, 130, 190])
    rng.shuffle(labels)
    images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
    images[:, 0, 0] = labels  # tag each image with its label to check alignment
    return images, labels


def test_split_is_stratified_disjoint_and_complete(raw):
    images, labels = raw
    train, val = split_train_validation(images, labels, PARAMS)
    assert len(train["labels"]) + len(val["labels"]) == len(labels)
    assert len(val["labels"]) == 200
    for c in range(10):
        share = (val["labels"] == c).sum() / (labels == c).sum()
        assert share == pytest.approx(0.2, abs=0.02)
    assert train["images"].shape[1:] == (1, 28, 28) and train["images"].dtype == np.uint8
    for split in (train, val):
        np.testing.assert_array_equal(split["images"][:, 0, 0, 0], split["labels"])
    rows = {r.tobytes() for r in train["images"]} & {r.tobytes() for r in val["images"]}
    assert not rows


def test_split_is_seeded(raw):
    a, _ = split_train_validation(*raw, PARAMS)
    b, _ = split_train_validation(*raw, PARAMS)
    c, _ = split_train_validation(*raw, ingestion(seed=4))
    np.testing.assert_array_equal(a["images"], b["images"])
    assert not np.array_equal(a["images"], c["images"])


def test_stratified_indices_exact_size():
    labels = np.array([0] * 7 + [1] * 3)
    keep, held = stratified_indices(labels, 0.3, seed=0)
    assert len(held) == 3 and len(keep) == 7
    assert set(keep) | set(held) == set(range(10))


def test_train_limit_takes_a_stratified_subset(raw):
    train, val = split_train_validation(*raw, ingestion(train_limit=500))
    assert len(train["labels"]) + len(val["labels"]) == 500
    assert set(np.unique(train["labels"])) == set(range(10))


@pytest.mark.parametrize(
    ("size", "rule"),
    [
        (0, "must be > 0, got 0"),
        (1, "must be < 1, got 1"),
        (-0.1, "must be > 0, got -0.1"),
        (1.5, "must be < 1, got 1.5"),
        ("0.1", "must be a number, got '0.1'"),
        (None, "must be a number, got None"),
        (True, "must be a number, got True"),
    ],
)
def test_validation_size_outside_unit_interval(size, rule):
    with pytest.raises(ParameterError, match=r"^invalid parameter data_ingestion\.validation_size: " + re.escape(rule) + "$"):
        ingestion(validation_size=size)


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("num_classes", 1, "must be >= 2, got 1"),
        ("num_classes", 10.0, "must be an integer, got 10.0"),
        ("num_classes", True, "must be an integer, got True"),
        ("train_limit", 0, "must be > 0, got 0"),
        ("test_limit", -5, "must be > 0, got -5"),
        ("test_limit", 2.5, "must be an integer, got 2.5"),
        ("seed", "3", "must be an integer, got '3'"),
    ],
)
def test_other_parameters_are_checked(key, value, rule):
    with pytest.raises(ParameterError, match=rf"^invalid parameter data_ingestion\.{key}: " + re.escape(rule) + "$"):
        ingestion(**{key: value})


def test_unknown_and_missing_parameters_are_named():
    with pytest.raises(ParameterError, match=r"unknown parameter data_ingestion\.validaton_size: remove it or check its spelling"):
        ingestion(validaton_size=0.1)
    with pytest.raises(ParameterError, match=r"missing parameter data_ingestion\.seed"):
        DataIngestionParameters.from_dict({"validation_size": 0.1, "num_classes": 10}, "data_ingestion")


def test_a_validation_size_that_empties_a_split_is_reported(raw):
    with pytest.raises(ValueError, match=r"data_ingestion\.validation_size=0\.0001 leaves an empty split of 1000 images"):
        split_train_validation(*raw, ingestion(validation_size=0.0001))


def test_count_mismatch_is_reported(raw):
    images, labels = raw
    with pytest.raises(ValueError, match=r"test set: 1000 images but 999 labels"):
        prepare_test_split(images, labels[:-1], PARAMS)


def test_label_out_of_range_is_reported(raw):
    images, labels = raw
    labels = labels.copy()
    labels[17] = 11
    with pytest.raises(ValueError, match=r"outside 0\.\.9, first at index 17 \(value 11\)"):
        split_train_validation(images, labels, PARAMS)


def test_wrong_dtype_and_shape():
    with pytest.raises(ValueError, match="uint8"):
        validate_images_and_labels(np.zeros((2, 4, 4), np.float32), np.zeros(2, np.uint8), 10, "x")
    with pytest.raises(ValueError, match="shape"):
        validate_images_and_labels(np.zeros((2, 16), np.uint8), np.zeros(2, np.uint8), 10, "x")

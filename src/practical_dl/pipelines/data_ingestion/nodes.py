"""Nodes of the ``data_ingestion`` pipeline."""

from __future__ import annotations

import logging
from typing import Annotated

import numpy as np
from pydantic import Field, StrictInt

from practical_dl.core.params import PositiveInt, Settings
from practical_dl.core.splits import Split, stratified_indices, stratified_subset

logger = logging.getLogger(__name__)


class DataIngestionParameters(Settings):
    """The ``data_ingestion`` block: the validation split and optional stratified subsets."""

    validation_size: Annotated[float, Field(strict=True, gt=0, lt=1, allow_inf_nan=False)]
    """Share of the training images held out, stratified by class."""
    seed: StrictInt
    """The split and the subsets."""
    num_classes: Annotated[StrictInt, Field(ge=2)]
    """Labels must lie in 0 .. num_classes-1."""
    train_limit: PositiveInt | None = None
    """A stratified subset of the training set (quick runs); null: all of it."""
    test_limit: PositiveInt | None = None
    """The same for the test set."""


def validate_images_and_labels(images: np.ndarray, labels: np.ndarray, num_classes: int, source: str) -> Split:
    """Check an image/label pair and return it as ``{"images": N x C x H x W uint8, "labels": N uint8}``.

    ``N x H x W`` (grey IDX files) gains a channel axis; labels must lie in ``0 .. num_classes-1``.
    """
    if images.dtype != np.uint8:
        raise ValueError(f"{source} images: expected uint8 pixels, got {images.dtype}")
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise ValueError(f"{source} images: expected N x H x W or N x C x H x W, got shape {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{source} labels: expected one label per image (1-D), got shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{source}: {len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise ValueError(f"{source}: no images")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{source} labels: expected integers, got {labels.dtype}")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise ValueError(
            f"{source} labels: {bad.size} label(s) outside 0..{num_classes - 1}, first at index {bad[0]} (value {labels[bad[0]]})"
        )
    return {"images": np.ascontiguousarray(images), "labels": labels.astype(np.uint8)}


def split_train_validation(train_images: np.ndarray, train_labels: np.ndarray, params: DataIngestionParameters) -> tuple[Split, Split]:
    """Validate the raw training set and split a seeded, stratified validation set off it."""
    data = validate_images_and_labels(train_images, train_labels, params.num_classes, "training set")
    data = stratified_subset(data, params.train_limit, params.seed)
    keep, held = stratified_indices(data["labels"], params.validation_size, params.seed)
    if len(held) == 0 or len(keep) == 0:
        raise ValueError(
            f"parameter data_ingestion.validation_size={params.validation_size} leaves an empty split of {len(data['labels'])} images"
        )
    train = {k: v[keep] for k, v in data.items()}
    val = {k: v[held] for k, v in data.items()}
    logger.info("Split %d training images into %d train / %d validation", len(data["labels"]), len(keep), len(held))
    return train, val


def prepare_test_split(test_images: np.ndarray, test_labels: np.ndarray, params: DataIngestionParameters) -> Split:
    """Validate the raw test set (read again only by evaluation)."""
    data = validate_images_and_labels(test_images, test_labels, params.num_classes, "test set")
    return stratified_subset(data, params.test_limit, params.seed)

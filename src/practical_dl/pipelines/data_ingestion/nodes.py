"""Nodes of the ``data_ingestion`` pipeline."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from practical_dl.core.splits import Split, stratified_indices, stratified_subset
from practical_dl.project.parameter_checks import register_check

logger = logging.getLogger(__name__)


def check_ingestion_parameters(params: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the parameter if ``data_ingestion`` parameters are invalid."""
    size = params.get("validation_size")
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not 0 < size < 1:
        raise ValueError(f"parameter data_ingestion.validation_size must be a fraction in (0, 1), got {size!r}")
    classes = params.get("num_classes")
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise ValueError(f"parameter data_ingestion.num_classes must be an integer >= 2, got {classes!r}")
    for key in ("train_limit", "test_limit"):
        limit = params.get(key)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
            raise ValueError(f"parameter data_ingestion.{key} must be a positive integer or null, got {limit!r}")


register_check("data_ingestion", lambda p: check_ingestion_parameters(p.get("data_ingestion") or {}))


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


def split_train_validation(train_images: np.ndarray, train_labels: np.ndarray, params: dict[str, Any]) -> tuple[Split, Split]:
    """Validate the raw training set and split a seeded, stratified validation set off it."""
    check_ingestion_parameters(params)
    data = validate_images_and_labels(train_images, train_labels, params["num_classes"], "training set")
    data = stratified_subset(data, params.get("train_limit"), params["seed"])
    keep, held = stratified_indices(data["labels"], params["validation_size"], params["seed"])
    if len(held) == 0 or len(keep) == 0:
        raise ValueError(
            f"parameter data_ingestion.validation_size={params['validation_size']} leaves an empty split of {len(data['labels'])} images"
        )
    train = {k: v[keep] for k, v in data.items()}
    val = {k: v[held] for k, v in data.items()}
    logger.info("Split %d training images into %d train / %d validation", len(data["labels"]), len(keep), len(held))
    return train, val


def prepare_test_split(test_images: np.ndarray, test_labels: np.ndarray, params: dict[str, Any]) -> Split:
    """Validate the raw test set (read again only by evaluation)."""
    check_ingestion_parameters(params)
    data = validate_images_and_labels(test_images, test_labels, params["num_classes"], "test set")
    return stratified_subset(data, params.get("test_limit"), params["seed"])

"""Seeded, stratified subsets of a split (``{"images": N x C x H x W uint8, "labels": N}``): how
``data_ingestion`` holds out its validation set and limits its splits, how the tricks sweeps and
the attacks take their slices, and how transfer learning picks its labelled-data budgets.
Plain NumPy, usable without Kedro."""

from __future__ import annotations

import numpy as np

Split = dict[str, np.ndarray]


def stratified_indices(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: indices (kept, held out), with each class held out in proportion.

    The held-out size is ``round(fraction * N)``; per-class quotas use largest remainders so
    class proportions match the whole set as closely as integers allow.
    """
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    n_held = int(round(fraction * len(labels)))
    exact = counts * n_held / len(labels)
    quota = np.floor(exact).astype(int)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: n_held - quota.sum()]] += 1
    held = []
    for cls, q in zip(classes, quota):
        members = np.flatnonzero(labels == cls)
        held.append(rng.permutation(members)[:q])
    held_idx = np.sort(np.concatenate(held))
    mask = np.ones(len(labels), dtype=bool)
    mask[held_idx] = False
    return np.flatnonzero(mask), held_idx


def stratified_subset(split: Split, limit: int | None, seed: int) -> Split:
    """A seeded, stratified subset of ``limit`` images (the whole split when ``limit`` is None)."""
    if limit is None or limit >= len(split["labels"]):
        return split
    _, keep = stratified_indices(split["labels"], limit / len(split["labels"]), seed)
    return {k: v[keep] for k, v in split.items()}


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` images of every class, in class order (example grids)."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)])


def per_class_subset(split: Split, per_class: int | str, seed: int) -> Split:
    """A seeded subset of ``per_class`` images of every class (``"all"``: the whole split)."""
    if per_class == "all":
        return split
    labels = split["labels"]
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if per_class > len(members):
            raise ValueError(f"budget {per_class} images per class, but class {c} has only {len(members)}")
        keep.append(rng.permutation(members)[:per_class])
    keep = np.sort(np.concatenate(keep))
    return {k: v[keep] for k, v in split.items()}

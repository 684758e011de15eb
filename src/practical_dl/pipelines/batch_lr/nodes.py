"""Nodes of the ``batch_lr`` pipeline: each (batch size, learning rate) pair is trained by the
sweeps' member trainer (:func:`practical_dl.project.sweeps.train_sweep_member`), as a sweep member of the tricks pipeline is."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from practical_dl.core.params import check_known_keys, increasing_list
from practical_dl.pipelines.batch_lr.figures import batch_lr_figure
from practical_dl.project.namespaces import name_safe
from practical_dl.project.parameter_checks import register_check
from practical_dl.project.reporting import verdict
from practical_dl.project.sweeps import train_sweep_member
from practical_dl.project.training_setup import model_from_params, training_config

logger = logging.getLogger(__name__)

KNOWN_KEYS = {"description", "train_limit", "seed", "model", "training", "batch_sizes", "learning_rates", "not_learning_percent"}
SWEEP = "batch_lr"


def _name(prefix: str, value: float) -> str:
    """A dataset-name-safe label: bs_64, lr_0p01, lr_1em05."""
    return f"{prefix}_{name_safe(value)}"


def _grid(params: dict[str, Any]) -> tuple[list[int], list[float]]:
    batches = increasing_list(params.get("batch_sizes"), "batch_lr.batch_sizes", int, 1, "a positive integer")
    lrs = increasing_list(params.get("learning_rates"), "batch_lr.learning_rates", (int, float), 1e-12, "a positive number")
    return batches, [float(r) for r in lrs]


def check_batch_lr_parameters(params: dict[str, Any], defaults: dict[str, Any]) -> tuple[list[int], list[float]]:
    """Validate the ``batch_lr`` block; return the batch sizes and the learning rates. Errors name the parameter."""
    check_known_keys(params, KNOWN_KEYS, SWEEP)
    batches, lrs = _grid(params)
    training = params.get("training") or {}
    if {"batch_size", "lr"} & set(training):
        raise ValueError(
            "parameters batch_lr.training.batch_size and .lr are set by batch_lr.batch_sizes and batch_lr.learning_rates; remove them"
        )
    training_config(defaults, training, where="batch_lr.training")
    model_from_params(params.get("model"), "batch_lr.model")
    limit = params.get("train_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"parameter batch_lr.train_limit must be a positive integer or null, got {limit!r}")
    share = params.get("not_learning_percent", 50)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 100:
        raise ValueError(f"parameter batch_lr.not_learning_percent must be in (0, 100), got {share!r}")
    return batches, lrs


register_check("batch_lr", lambda p: check_batch_lr_parameters(p.get("batch_lr") or {}, p.get("training_defaults") or {}))


def grid_members(params: dict[str, Any]) -> dict[tuple[str, str], tuple[int, float]]:
    """``{(batch label, lr label): (batch size, learning rate)}``, batch sizes outermost."""
    batches, lrs = _grid(params)
    return {(_name("bs", b), _name("lr", r)): (b, r) for b in batches for r in lrs}


def train_grid_member(
    train_split: dict[str, np.ndarray],
    validation_split: dict[str, np.ndarray],
    test_split: dict[str, np.ndarray],
    standardisation_stats: dict,
    batch_lr: dict[str, Any],
    training_defaults: dict[str, Any],
    augmentation_params: dict[str, Any],
    *,
    batch_size: int,
    lr: float,
) -> dict[str, Any]:
    """Train SimpLeNet (``batch_lr.model``) at one batch size and learning rate for
    ``batch_lr.training.epochs`` epochs of the same ``train_limit`` images — the same budget of
    images seen for every pair — in a child MLflow run; score it on the test split."""
    check_batch_lr_parameters(batch_lr, training_defaults)
    member = f"{_name('bs', batch_size)}.{_name('lr', lr)}"
    as_sweep = {
        "train_limit": batch_lr.get("train_limit"),
        "seed": batch_lr.get("seed", 0),
        "model": batch_lr.get("model"),
        "training": batch_lr.get("training"),
        "sweeps": {SWEEP: {"members": {member: {"training": {"batch_size": batch_size, "lr": lr}}}}},
    }
    return train_sweep_member(
        train_split,
        validation_split,
        test_split,
        standardisation_stats,
        as_sweep,
        training_defaults,
        augmentation_params,
        sweep=SWEEP,
        member=member,
        pipeline=SWEEP,
    )


def error_grid(batches: list[int], lrs: list[float], results: tuple[dict, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test error (%), diverged flags and seconds per epoch, batch x lr (NaN where training diverged)."""
    error = np.full((len(batches), len(lrs)), np.nan)
    diverged = np.zeros_like(error, dtype=bool)
    seconds = np.full_like(error, np.nan)
    for r in results:
        i, j = batches.index(r["batch_size"]), lrs.index(r["lr"])
        diverged[i, j] = bool(r["diverged"]) or not math.isfinite(r["test_error_percent"])
        error[i, j] = math.nan if diverged[i, j] else r["test_error_percent"]
        seconds[i, j] = math.nan if diverged[i, j] else r["seconds_per_epoch"]  # a diverged run stops early
    return error, diverged, seconds


def per_batch(seconds: np.ndarray) -> np.ndarray:
    """Mean seconds per epoch of every batch size over its learning rates that did not diverge."""
    return np.array([np.nan if np.isnan(row).all() else float(np.nanmean(row)) for row in seconds])


def check_batch_lr_claims(batches: list[int], lrs: list[float], error: np.ndarray, seconds: np.ndarray, not_learning: float) -> list[str]:
    """The lecture's claims about batch size and learning rate, each confirmed or not by the grid."""

    def best(i: int) -> int | None:
        row = error[i]
        return None if np.isnan(row).all() else int(np.nanargmin(row))

    def cell(i: int, j: int) -> str:
        return "diverged" if np.isnan(error[i, j]) else f"{error[i, j]:.2f}%"

    bests = [best(i) for i in range(len(batches))]
    lines = []
    known = [(b, j) for b, j in zip(batches, bests) if j is not None]
    if len(known) >= 2:
        growing = all(lrs[a] <= lrs[c] for (_, a), (_, c) in zip(known, known[1:])) and lrs[known[-1][1]] > lrs[known[0][1]]
        lines.append(
            f"- The best learning rate grows with the batch size: {verdict(growing)} — "
            + ", ".join(f"batch {b}: lr {lrs[j]:g} ({error[batches.index(b), j]:.2f}%)" for b, j in known)
            + "."
        )
    small, large = 0, len(batches) - 1
    if large > small and bests[small] is not None and bests[large] is not None:
        j_large, j_small = bests[large], bests[small]
        worse = np.isnan(error[small, j_large]) or error[small, j_large] > error[small, j_small]
        lines.append(
            f"- Small batches need a lower learning rate: {verdict(worse and lrs[j_small] < lrs[j_large])} — at batch {batches[small]} "
            f"the learning rate that suits batch {batches[large]} (lr {lrs[j_large]:g}) gives {cell(small, j_large)}, "
            f"its own best (lr {lrs[j_small]:g}) {cell(small, j_small)}."
        )
        at = error[large, j_small]
        lines.append(
            f"- Large batches may not learn at all (at the learning rate that suits small ones, with the same images seen): "
            f"{verdict(bool(np.isnan(at) or at >= not_learning))} — batch {batches[large]} at lr {lrs[j_small]:g}: {cell(large, j_small)} "
            f"test error (chance: 90%; 'not learning' here: {not_learning:g}% or more); "
            f"its best, at lr {lrs[j_large]:g}: {cell(large, j_large)}."
        )
    timed = per_batch(seconds)
    if not np.isnan(timed).all():
        fastest = int(np.nanargmin(timed))
        lines.append(
            "- Larger batches are faster per epoch, up to the point where the hardware is saturated: "
            f"fastest here batch {batches[fastest]} "
            f"({timed[fastest]:.2f} s per epoch) — " + ", ".join(f"batch {b}: {s:.2f} s" for b, s in zip(batches, timed)) + "."
        )
    return lines


def report_batch_lr(batch_lr: dict[str, Any], *results: dict[str, Any]) -> dict[str, Any]:
    """The grid's table (test error, one row per batch size, one column per learning rate), the
    heat map beside the time per epoch, and a report of the lecture's claims."""
    batches = list(batch_lr["batch_sizes"])
    lrs = [float(r) for r in batch_lr["learning_rates"]]
    error, diverged, seconds = error_grid(batches, lrs, results)
    table = pd.DataFrame(
        {f"lr={lr:g}": [("diverged" if d else round(e, 2)) for e, d in zip(error[:, j], diverged[:, j])] for j, lr in enumerate(lrs)},
        index=pd.Index(batches, name="batch size"),
    )
    table["seconds per epoch"] = np.round(per_batch(seconds), 2)
    table = table.reset_index()
    claims = check_batch_lr_claims(batches, lrs, error, seconds, float(batch_lr.get("not_learning_percent", 50)))
    images = results[0]["train_images"] if results else 0
    epochs = len(results[0]["history"]) if results and not results[0]["diverged"] else (batch_lr.get("training") or {}).get("epochs")
    markdown = (
        "# Batch size against learning rate: what these runs show\n\n"
        "The lecture: small batches need a lower learning rate; large ones are faster per epoch but may not learn at all. "
        "The tricks sweeps change one of the two at a time; here every pair is trained with the same budget of images seen "
        f"({epochs} epoch{'s' if epochs != 1 else ''} of the same {images} training images, so a batch of {batches[-1]} takes "
        f"{batches[-1] // batches[0]} times fewer steps than a batch of {batches[0]}), plain SGD with momentum at a constant "
        "learning rate. Each pair is a child MLflow run tagged "
        "`sweep = batch_lr`; the test error is on the test split.\n\n"
        "## The lecture's claims\n\n"
        + "\n".join(claims)
        + "\n\n## Test error (%) of every pair\n\n"
        + table.to_markdown(index=False)
        + "\n"
    )
    for line in claims:
        logger.info("%s", line.replace("**", ""))
    return {"table": table, "report": markdown, "plot": batch_lr_figure(batches, lrs, error, per_batch(seconds))}

"""Nodes of the ``batch_lr`` pipeline: each (batch size, learning rate) pair is trained by the
sweeps' member trainer (:func:`practical_dl.project.sweeps.train_member`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from practical_dl.core.config import AugmentConfig
from practical_dl.core.params import IncreasingList, NonNegativeInt, PositiveFloat, PositiveInt, Settings
from practical_dl.pipelines.batch_lr.figures import batch_lr_figure
from practical_dl.project.namespaces import name_safe
from practical_dl.project.parameters import ModelSpec, TrainingOverrides, TrainingSettings, training_settings
from practical_dl.project.reporting import Claim, Report
from practical_dl.project.sweeps import MemberSummary, SweepData, SweepMember, train_member

logger = logging.getLogger(__name__)

SWEEP = "batch_lr"


class BatchLrParameters(Settings):
    """The ``batch_lr`` block: every (batch size, learning rate) pair trained with the same budget of images seen."""

    description: str = ""
    train_limit: PositiveInt | None = None
    """A stratified slice of the train split, the same for every pair (null: all of it)."""
    seed: NonNegativeInt = 0
    """The slice."""
    model: ModelSpec
    training: TrainingOverrides | None = None
    """Every pair's training over training_defaults (not batch_size or lr: the grid sets them)."""
    batch_sizes: IncreasingList[PositiveInt]
    learning_rates: IncreasingList[PositiveFloat]
    not_learning_percent: Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)] = 50
    """A test error this high or higher counts as "not learning" in the report."""

    @field_validator("training")
    @classmethod
    def _grid_sets_batch_and_lr(cls, training: Any) -> Any:
        if training is not None and {"batch_size", "lr"} & training.model_fields_set:
            raise ValueError("batch_size and lr are set by batch_lr.batch_sizes and batch_lr.learning_rates; remove them")
        return training


def _name(prefix: str, value: float) -> str:
    """A dataset-name-safe label: bs_64, lr_0p01, lr_1em05."""
    return f"{prefix}_{name_safe(value)}"


def grid_members(batch_lr: BatchLrParameters) -> dict[tuple[str, str], tuple[int, float]]:
    """``{(batch label, lr label): (batch size, learning rate)}``, batch sizes outermost."""
    return {(_name("bs", b), _name("lr", r)): (b, r) for b in batch_lr.batch_sizes for r in batch_lr.learning_rates}


def member_settings(batch_lr: BatchLrParameters, defaults: TrainingSettings, batch_size: int, lr: float) -> TrainingSettings:
    """One pair's training settings: ``training_defaults``, ``batch_lr.training``, then the pair."""
    return training_settings(defaults, batch_lr.training, {"batch_size": batch_size, "lr": lr}, where="batch_lr.training")


def train_grid_member(
    train_split: dict[str, np.ndarray],
    validation_split: dict[str, np.ndarray],
    test_split: dict[str, np.ndarray],
    standardisation_stats: dict,
    batch_lr: BatchLrParameters,
    training_defaults: TrainingSettings,
    augmentation: AugmentConfig,
    *,
    batch_size: int,
    lr: float,
) -> MemberSummary:
    """Train SimpLeNet (``batch_lr.model``) at one batch size and learning rate for
    ``batch_lr.training.epochs`` epochs of the same ``train_limit`` images — the same budget of
    images seen for every pair — in a child MLflow run; score it on the test split."""
    data = SweepData(train_split, validation_split, test_split, standardisation_stats)
    member = f"{_name('bs', batch_size)}.{_name('lr', lr)}"
    who = SweepMember(pipeline=SWEEP, sweep=SWEEP, member=member, where=SWEEP, train_limit=batch_lr.train_limit, seed=batch_lr.seed)
    summary, _ = train_member(data, batch_lr.model, member_settings(batch_lr, training_defaults, batch_size, lr), augmentation, who)
    return summary


def error_grid(batches: list[int], lrs: list[float], results: Sequence[MemberSummary]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test error (%), diverged flags and seconds per epoch, batch x lr (NaN where training diverged)."""
    error = np.full((len(batches), len(lrs)), np.nan)
    diverged = np.zeros_like(error, dtype=bool)
    seconds = np.full_like(error, np.nan)
    for r in results:
        i, j = batches.index(r.batch_size), lrs.index(r.lr)
        diverged[i, j] = r.diverged or not math.isfinite(r.test_error_percent)
        error[i, j] = math.nan if diverged[i, j] else r.test_error_percent
        seconds[i, j] = math.nan if diverged[i, j] else r.seconds_per_epoch  # a diverged run stops early
    return error, diverged, seconds


def per_batch(seconds: np.ndarray) -> np.ndarray:
    """Mean seconds per epoch of every batch size over its learning rates that did not diverge."""
    return np.array([np.nan if np.isnan(row).all() else float(np.nanmean(row)) for row in seconds])


def _best(error: np.ndarray, i: int) -> int | None:
    """The column of batch size ``i``'s lowest test error, None when every one of its runs diverged."""
    row = error[i]
    return None if np.isnan(row).all() else int(np.nanargmin(row))


def _cell(error: np.ndarray, i: int, j: int) -> str:
    return "diverged" if np.isnan(error[i, j]) else f"{error[i, j]:.2f}%"


def _best_lr_grows(batches: list[int], lrs: list[float], error: np.ndarray, bests: list[int | None]) -> list[Claim]:
    """The best learning rate grows with the batch size (checked when two batch sizes have one)."""
    known = [(b, j) for b, j in zip(batches, bests) if j is not None]
    if len(known) < 2:
        return []
    growing = all(lrs[a] <= lrs[c] for (_, a), (_, c) in zip(known, known[1:])) and lrs[known[-1][1]] > lrs[known[0][1]]
    evidence = ", ".join(f"batch {b}: lr {lrs[j]:g} ({error[batches.index(b), j]:.2f}%)" for b, j in known)
    return [Claim.check("The best learning rate grows with the batch size", growing, evidence)]


def _small_and_large_batches(
    batches: list[int], lrs: list[float], error: np.ndarray, bests: list[int | None], not_learning: float
) -> list[Claim]:
    """Small batches need a lower learning rate; large ones may not learn at all at the small ones' best."""
    small, large = 0, len(batches) - 1
    if not (large > small and bests[small] is not None and bests[large] is not None):
        return []
    j_large, j_small = bests[large], bests[small]
    worse = np.isnan(error[small, j_large]) or error[small, j_large] > error[small, j_small]
    at = error[large, j_small]
    return [
        Claim.check(
            "Small batches need a lower learning rate",
            bool(worse and lrs[j_small] < lrs[j_large]),
            f"at batch {batches[small]} the learning rate that suits batch {batches[large]} (lr {lrs[j_large]:g}) gives "
            f"{_cell(error, small, j_large)}, its own best (lr {lrs[j_small]:g}) {_cell(error, small, j_small)}",
        ),
        Claim.check(
            "Large batches may not learn at all (at the learning rate that suits small ones, with the same images seen)",
            bool(np.isnan(at) or at >= not_learning),
            f"batch {batches[large]} at lr {lrs[j_small]:g}: {_cell(error, large, j_small)} test error (chance: 90%; "
            f"'not learning' here: {not_learning:g}% or more); its best, at lr {lrs[j_large]:g}: {_cell(error, large, j_large)}",
        ),
    ]


def check_batch_lr_claims(batches: list[int], lrs: list[float], error: np.ndarray, not_learning: float) -> list[Claim]:
    """The lecture's claims about batch size and learning rate, each holding or contradicted by the grid."""
    bests = [_best(error, i) for i in range(len(batches))]
    return _best_lr_grows(batches, lrs, error, bests) + _small_and_large_batches(batches, lrs, error, bests, not_learning)


def speed_observation(batches: list[int], seconds: np.ndarray) -> str:
    """Which batch size was fastest per epoch, and every batch size's time ("" when every run diverged).

    Not a claim with a verdict: the lecture's "up to the point where the hardware is saturated" has
    no yes/no test here."""
    timed = per_batch(seconds)
    if np.isnan(timed).all():
        return ""
    fastest = int(np.nanargmin(timed))
    return (
        "Larger batches are faster per epoch, up to the point where the hardware is saturated: "
        f"fastest here batch {batches[fastest]} ({timed[fastest]:.2f} s per epoch) — "
        + ", ".join(f"batch {b}: {s:.2f} s" for b, s in zip(batches, timed))
        + "."
    )


def error_table(batches: list[int], lrs: list[float], error: np.ndarray, diverged: np.ndarray, seconds: np.ndarray) -> pd.DataFrame:
    """The grid as a table: test error (%) of every pair, batch sizes down, learning rates across.

    A pair that diverged reads "diverged"; the last column is the batch size's mean seconds per epoch."""
    table = pd.DataFrame(
        {f"lr={lr:g}": [("diverged" if d else round(e, 2)) for e, d in zip(error[:, j], diverged[:, j])] for j, lr in enumerate(lrs)},
        index=pd.Index(batches, name="batch size"),
    )
    table["seconds per epoch"] = np.round(per_batch(seconds), 2)
    return table.reset_index()


def _about(batch_lr: BatchLrParameters, results: Sequence[MemberSummary]) -> str:
    """How the grid was measured: the budget of images seen, the optimiser, where the runs are."""
    batches = batch_lr.batch_sizes
    images = results[0].train_images if results else 0
    epochs = results[0].epochs if results and not results[0].diverged else getattr(batch_lr.training, "epochs", None)
    return (
        "The lecture: small batches need a lower learning rate; large ones are faster per epoch but may not learn at all. "
        "The tricks sweeps change one of the two at a time; here every pair is trained with the same budget of images seen "
        f"({epochs} epoch{'s' if epochs != 1 else ''} of the same {images} training images, so a batch of {batches[-1]} takes "
        f"{batches[-1] // batches[0]} times fewer steps than a batch of {batches[0]}), plain SGD with momentum at a constant "
        "learning rate. Each pair is a child MLflow run tagged `sweep = batch_lr`; the test error is on the test split."
    )


def report_batch_lr(batch_lr: BatchLrParameters, *results: MemberSummary) -> dict[str, Any]:
    """The grid's table, its heat map and a report of the lecture's claims.

    The table has the test error, one row per batch size, one column per learning rate; the heat map
    stands beside the time per epoch."""
    batches = list(batch_lr.batch_sizes)
    lrs = list(batch_lr.learning_rates)
    error, diverged, seconds = error_grid(batches, lrs, results)
    table = error_table(batches, lrs, error, diverged, seconds)
    speed = speed_observation(batches, seconds)
    if speed:
        logger.info("%s", speed)
    report = Report(
        "Batch size against learning rate: what these runs show",
        about=_about(batch_lr, results),
        claims=check_batch_lr_claims(batches, lrs, error, float(batch_lr.not_learning_percent)),
        tables={**({"Time per epoch": speed} if speed else {}), "Test error (%) of every pair": table},
    )
    return {"table": table, "report": report, "plot": batch_lr_figure(batches, lrs, error, per_batch(seconds))}

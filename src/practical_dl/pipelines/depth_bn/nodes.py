"""Nodes of the ``depth_bn`` pipeline: its runs, the claims they are checked against and the report.

Every member is trained by the sweeps' member trainer (:func:`practical_dl.project.sweeps.train_member`),
with :class:`practical_dl.core.diagnostics.GradientNorms` watching its convolutions."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import Field, StrictInt

from practical_dl.core.config import AugmentConfig
from practical_dl.core.params import IncreasingList, NonNegativeInt, PositiveFloat, PositiveInt, Settings
from practical_dl.core.splits import stratified_subset
from practical_dl.pipelines.depth_bn.figures import depth_bn_figure
from practical_dl.project.namespaces import name_safe
from practical_dl.project.parameters import ModelSpec, TrainingOverrides, TrainingSettings, training_settings
from practical_dl.project.reporting import Claim, Report
from practical_dl.project.sweeps import MemberSummary, SweepData, SweepMember, train_member

logger = logging.getLogger(__name__)

SWEEP = "depth_bn"

#: A slice of a split: 10 images or more, or null (the whole split).
Limit = Annotated[StrictInt, Field(ge=10)] | None


class DepthBnParameters(Settings):
    """The ``depth_bn`` block: ``deep_convnet`` at every depth, without and with batch norm, at multiples of the learning rate."""

    train_limit: Limit = None
    """A stratified slice of the train split, the same for every run (null: all of it)."""
    validation_limit: Limit = None
    """... of the validation split, scored after every epoch."""
    test_limit: Limit = None
    """... of the test split, scored at the end."""
    seed: NonNegativeInt = 0
    """The slices."""
    width: PositiveInt = 8
    """Channels of the first stage (then twice and four times as many)."""
    depths: IncreasingList[Annotated[StrictInt, Field(ge=3)]]
    """Convolutional layers."""
    lr_factors: IncreasingList[PositiveFloat]
    """Multiples of the base learning rate (training.lr)."""
    probe_images: Annotated[StrictInt, Field(ge=2)] = 256
    """The fixed batch the per-layer gradient norms are measured on."""
    not_learning_percent: Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)] = 50
    """A test error this high or higher counts as "does not train" in the report."""
    training: TrainingOverrides | None = None
    """Every run's training over training_defaults."""


class DepthMemberSummary(MemberSummary):
    """A depth x batch-norm member's summary, with what it is and its gradient norms."""

    depth: int
    batch_norm: bool
    lr_factor: float
    gradient_norms: list[dict[str, Any]]
    """``{"epoch": k, "norms": [first convolution, ..., last]}``, from epoch 0 (before training)."""

    @property
    def norms_before_training(self) -> list[float]:
        """The gradient norm of every convolution (the first nearest the input) before training."""
        return self.gradient_norms[0]["norms"]


def depth_members(depth_bn: DepthBnParameters) -> dict[str, dict[str, Any]]:
    """``{"depth_8.bn.lr_x10": {"depth": 8, "batch_norm": True, "lr_factor": 10.0}, ...}``."""
    return {
        f"depth_{d}.{'bn' if bn else 'plain'}.lr_x{name_safe(f)}": {"depth": d, "batch_norm": bn, "lr_factor": f}
        for d in depth_bn.depths
        for bn in (False, True)
        for f in depth_bn.lr_factors
    }


def member_spec(
    depth_bn: DepthBnParameters, defaults: TrainingSettings, depth: int, batch_norm: bool, lr_factor: float
) -> tuple[ModelSpec, TrainingSettings]:
    """One run's network and training settings.

    ``training_defaults``, ``depth_bn.training``, then the learning rate times ``lr_factor``."""
    base = training_settings(defaults, depth_bn.training, where="depth_bn.training")
    model = ModelSpec(
        name="deep_convnet",
        label=f"{depth} conv{' + BN' if batch_norm else ''}",
        options={"depth": depth, "batch_norm": batch_norm, "width": depth_bn.width},
    )
    return model, training_settings(base, {"lr": base.lr * lr_factor}, where="depth_bn.training")


def train_depth_member(
    train_split: dict[str, np.ndarray],
    validation_split: dict[str, np.ndarray],
    test_split: dict[str, np.ndarray],
    standardisation_stats: dict,
    depth_bn: DepthBnParameters,
    training_defaults: TrainingSettings,
    augmentation: AugmentConfig,
    *,
    depth: int,
    batch_norm: bool,
    lr_factor: float,
) -> DepthMemberSummary:
    """Train ``deep_convnet`` of ``depth`` convolutions in a child MLflow run.

    With or without batch norm, at the base learning rate times ``lr_factor``; the gradient norm of
    every convolution on a fixed probe batch before training and after every epoch goes with the result."""
    # torch is imported when the node runs, not when the pipeline is built
    from practical_dl.core.diagnostics import GradientNorms

    seed = depth_bn.seed
    model, config = member_spec(depth_bn, training_defaults, depth, batch_norm, lr_factor)
    member = f"depth_{depth}.{'bn' if batch_norm else 'plain'}.lr_x{name_safe(lr_factor)}"
    train = stratified_subset(train_split, depth_bn.train_limit, seed)  # the slice train_member trains on
    probe = depth_bn.probe_images
    watchers: list[GradientNorms] = []

    def watch(model, standardiser) -> list[GradientNorms]:
        watchers.append(GradientNorms(model, lambda m: m.convolutions, train["images"][:probe], train["labels"][:probe], standardiser))
        return watchers

    data = SweepData(
        train_split,
        stratified_subset(validation_split, depth_bn.validation_limit, seed),
        stratified_subset(test_split, depth_bn.test_limit, seed),
        standardisation_stats,
    )
    who = SweepMember(pipeline=SWEEP, sweep=SWEEP, member=member, where=SWEEP, train_limit=depth_bn.train_limit, seed=seed)
    summary, _ = train_member(data, model, config, augmentation, who, collaborators=watch)
    norms = watchers[0].history
    logger.info(
        "%s: gradient norm of the first / last convolution before training %.3g / %.3g",
        member,
        norms[0]["norms"][0],
        norms[0]["norms"][-1],
    )
    return DepthMemberSummary(**dict(summary), depth=depth, batch_norm=batch_norm, lr_factor=lr_factor, gradient_norms=norms)


def _error(r: DepthMemberSummary) -> float:
    """The test error (%), infinite for a run that diverged or whose test logits were not finite."""
    return math.inf if r.diverged or not math.isfinite(r.test_error_percent) else r.test_error_percent


def _error_text(r: DepthMemberSummary) -> str:
    return "diverged" if math.isinf(_error(r)) else f"{r.test_error_percent:.1f}%"


def _loss(r: DepthMemberSummary, epoch: int | None = None) -> float:
    """The training loss after ``epoch`` (a shorter run: after its last; default: the last), NaN for a diverged run."""
    losses = [row["train_loss"] for row in r.history if "train_loss" in row]
    if not losses or r.diverged:
        return math.nan
    return r.last("train_loss") if epoch is None else losses[min(epoch, len(losses)) - 1]


def _ratio(r: DepthMemberSummary) -> float:
    """The first convolution's gradient norm over the last one's, before training."""
    first, last = r.norms_before_training[0], r.norms_before_training[-1]
    return first / last if last > 0 else math.nan


@dataclass(frozen=True)
class _Grid:
    """The runs by depth, batch norm and learning-rate factor."""

    by: dict[tuple[int, bool, float], DepthMemberSummary]
    depths: list[int]
    factors: list[float]
    not_learning: float
    """A test error this high or higher: the run does not train."""

    @classmethod
    def of(cls, results: Sequence[DepthMemberSummary], not_learning: float) -> _Grid:
        by = {(r.depth, r.batch_norm, r.lr_factor): r for r in results}
        return cls(by, sorted({r.depth for r in results}), sorted({r.lr_factor for r in results}), not_learning)

    def runs(self, batch_norm: bool, factor: float) -> list[DepthMemberSummary]:
        """One run per depth, shallowest first."""
        return [self.by[(d, batch_norm, factor)] for d in self.depths]

    def best(self, batch_norm: bool) -> list[DepthMemberSummary]:
        """Per depth, the run of the learning rate that did best (diverged runs last)."""
        return [min((self.by[(d, batch_norm, f)] for f in self.factors), key=_error) for d in self.depths]

    def learns(self, r: DepthMemberSummary) -> bool:
        return _error(r) < self.not_learning

    def per_depth(self, text: Callable[[DepthMemberSummary], str], runs: Sequence[DepthMemberSummary]) -> str:
        return ", ".join(f"{d} layers: {text(r)}" for d, r in zip(self.depths, runs))


def _best_text(r: DepthMemberSummary) -> str:
    return f"{_error_text(r)} (lr {r.lr:g})"


def _deep_plain_stops_claim(grid: _Grid) -> Claim:
    best = grid.best(False)
    return Claim.check(
        f"Without batch norm, a deep enough network stops training (test error {grid.not_learning:g}% or more at every learning rate; "
        "chance is 90%)",
        grid.learns(best[0]) and not grid.learns(best[-1]),
        "best of each depth: " + grid.per_depth(_best_text, best),
    )


def _deep_bn_trains_claim(grid: _Grid) -> Claim:
    best = grid.best(True)
    return Claim.check(
        "Batch norm lets the deeper networks train (every depth, at its best learning rate)",
        all(grid.learns(r) for r in best),
        grid.per_depth(_best_text, best),
    )


def _bn_faster_claim(grid: _Grid) -> Claim:
    plain, normed = grid.runs(False, grid.factors[0]), grid.runs(True, grid.factors[0])
    faster = all(_loss(n, 1) < _loss(p, 1) or (math.isnan(_loss(p, 1)) and not math.isnan(_loss(n, 1))) for p, n in zip(plain, normed))
    return Claim.check(
        f"Batch norm trains faster (a lower training loss after the first epoch at every depth, lr {plain[0].lr:g})",
        faster,
        ", ".join(f"{d} layers: {_loss(p, 1):.3f} without, {_loss(n, 1):.3f} with" for d, p, n in zip(grid.depths, plain, normed)),
    )


def _bn_larger_lr_claim(grid: _Grid) -> Claim:
    low, high = grid.factors[0], grid.factors[-1]
    plain, normed = grid.runs(False, high), grid.runs(True, high)
    return Claim.check(
        f"Batch norm takes a {high / low:g}x larger learning rate (more depths train with it than without)",
        sum(map(grid.learns, normed)) > sum(map(grid.learns, plain)),
        ", ".join(f"{d} layers: {_error_text(p)} without, {_error_text(n)} with" for d, p, n in zip(grid.depths, plain, normed)),
    )


def _vanishing_gradients_claim(grid: _Grid) -> Claim:
    plain, normed = grid.runs(False, grid.factors[0]), grid.runs(True, grid.factors[0])
    shallow, deep, deep_bn = _ratio(plain[0]), _ratio(plain[-1]), _ratio(normed[-1])

    def ratios(runs: list[DepthMemberSummary]) -> str:
        return ", ".join(f"{d} layers {_ratio(r):.2g}" for d, r in zip(grid.depths, runs))

    return Claim.check(
        "Gradients vanish towards the input of a deep plain network, not with batch norm (before training, the first convolution's "
        "gradient norm over the last one's falls with depth without batch norm, "
        f"and is 10x larger or more with it at {grid.depths[-1]} layers)",
        deep < shallow / 10 and deep_bn >= 10 * deep,
        f"without: {ratios(plain)}; with: {ratios(normed)}",
    )


def check_depth_bn_claims(results: Sequence[DepthMemberSummary], not_learning: float) -> list[Claim]:
    """The lecture's claims about depth and batch norm, each held or contradicted by the runs.

    A run learns when its test error is below ``not_learning`` percent."""
    grid = _Grid.of(results, not_learning)
    claims = [_deep_plain_stops_claim(grid), _deep_bn_trains_claim(grid), _bn_faster_claim(grid)]
    if grid.factors[-1] != grid.factors[0]:
        claims.append(_bn_larger_lr_claim(grid))
    return [*claims, _vanishing_gradients_claim(grid)]


def _runs_table(results: Sequence[DepthMemberSummary]) -> pd.DataFrame:
    """One row per run, by depth, batch norm and learning rate."""
    rows = [
        {
            "conv layers": r.depth,
            "batch norm": r.batch_norm,
            "learning rate": r.lr,
            "test error (%)": "diverged" if r.diverged else round(r.test_error_percent, 2),
            "final training loss": round(_loss(r), 4),
            "first/last conv gradient norm before training": float(f"{_ratio(r):.3g}"),
            "seconds per epoch": round(r.seconds_per_epoch, 2),
            "mlflow run": r.mlflow_run_id,
        }
        for r in sorted(results, key=lambda r: (r.depth, r.batch_norm, r.lr_factor))
    ]
    return pd.DataFrame(rows)


def _about(depth_bn: DepthBnParameters, first: DepthMemberSummary) -> str:
    """How the runs were made: the network family, the epochs, the images."""
    return (
        "The lecture: batch normalisation lets you build deeper networks and speeds up training. The tricks sweep tests "
        "batch norm on the 4-layer SimpLeNet, where it has nothing to rescue; here one VGG-style family (`deep_convnet`: "
        "3x3 convolutions in three stages, PyTorch's default initialisation, global average pooling) is trained at "
        "every depth without and with batch norm, at the base learning rate and at each multiple of it, "
        f"{first.epochs} epoch{'s' if first.epochs != 1 else ''} "
        f"of the same {first.train_images} training images (plain SGD with momentum). The gradient norms come from "
        f"one fixed batch of {depth_bn.probe_images} training images. Each run is a child MLflow run tagged "
        "`sweep = depth_bn`."
    )


def report_depth_bn(depth_bn: DepthBnParameters, *results: DepthMemberSummary) -> dict[str, Any]:
    """The table of every run, the picture and a report of the lecture's claims.

    The picture: error against depth, loss per epoch, gradient norms per layer."""
    table = _runs_table(results)
    report = Report(
        "Deep networks with and without batch norm: what these runs show",
        about=_about(depth_bn, results[0]),
        claims=check_depth_bn_claims(results, float(depth_bn.not_learning_percent)),
        tables={"Every run": table.drop(columns="mlflow run")},
    )
    return {"table": table, "report": report, "plot": depth_bn_figure(results)}

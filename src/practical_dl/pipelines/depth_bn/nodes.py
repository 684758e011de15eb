"""Nodes of the ``depth_bn`` pipeline: every member is trained by the sweeps' member trainer
(:func:`practical_dl.project.sweeps.train_member`),
with :class:`practical_dl.core.diagnostics.GradientNorms` watching its convolutions."""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import Field, StrictInt

from practical_dl.core.augment import AugmentConfig
from practical_dl.core.diagnostics import GradientNorms
from practical_dl.core.params import IncreasingList, NonNegativeInt, PositiveFloat, PositiveInt, Settings
from practical_dl.core.splits import stratified_subset
from practical_dl.pipelines.depth_bn.figures import depth_bn_figure
from practical_dl.project.namespaces import name_safe
from practical_dl.project.parameters import ModelSpec, TrainingOverrides, TrainingSettings, training_settings
from practical_dl.project.reporting import verdict
from practical_dl.project.sweeps import train_member

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
    """One run's network and training settings: ``training_defaults``, ``depth_bn.training``, then
    the learning rate times ``lr_factor``."""
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
) -> dict[str, Any]:
    """Train ``deep_convnet`` of ``depth`` convolutions (with or without batch norm) at the base
    learning rate times ``lr_factor`` in a child MLflow run; the gradient norm of every
    convolution on a fixed probe batch before training and after every epoch goes with the result."""
    seed = depth_bn.seed
    model, config = member_spec(depth_bn, training_defaults, depth, batch_norm, lr_factor)
    member = f"depth_{depth}.{'bn' if batch_norm else 'plain'}.lr_x{name_safe(lr_factor)}"
    train = stratified_subset(train_split, depth_bn.train_limit, seed)  # the slice train_member trains on
    probe = depth_bn.probe_images
    watchers: list[GradientNorms] = []

    def watch(model, standardiser) -> list[GradientNorms]:
        watchers.append(GradientNorms(model, lambda m: m.convolutions, train["images"][:probe], train["labels"][:probe], standardiser))
        return watchers

    summary, _, _ = train_member(
        train_split,
        stratified_subset(validation_split, depth_bn.validation_limit, seed),
        stratified_subset(test_split, depth_bn.test_limit, seed),
        standardisation_stats,
        model=model,
        training=config,
        augmentation=augmentation,
        train_limit=depth_bn.train_limit,
        seed=seed,
        sweep=SWEEP,
        member=member,
        pipeline=SWEEP,
        where=SWEEP,
        collaborators=watch,
    )
    norms = watchers[0].history
    logger.info(
        "%s: gradient norm of the first / last convolution before training %.3g / %.3g",
        member,
        norms[0]["norms"][0],
        norms[0]["norms"][-1],
    )
    return summary | {"depth": depth, "batch_norm": batch_norm, "lr_factor": lr_factor, "gradient_norms": norms}


def _loss(r: dict, epoch: int | None = None) -> float:
    rows = [row for row in r["history"] if "train_loss" in row]
    if not rows or r["diverged"]:
        return math.nan
    return rows[-1 if epoch is None else min(epoch, len(rows)) - 1]["train_loss"]


def _ratio(r: dict) -> float:
    first, last = r["gradient_norms"][0]["norms"][0], r["gradient_norms"][0]["norms"][-1]
    return first / last if last > 0 else math.nan


def check_depth_bn_claims(results: tuple[dict, ...], not_learning: float) -> list[str]:
    """The lecture's claims about depth and batch norm, each confirmed or not by the runs."""
    by = {(r["depth"], r["batch_norm"], r["lr_factor"]): r for r in results}
    depths = sorted({r["depth"] for r in results})
    factors = sorted({r["lr_factor"] for r in results})
    low, high = factors[0], factors[-1]

    def learns(r: dict) -> bool:
        return not r["diverged"] and math.isfinite(r["test_error_percent"]) and r["test_error_percent"] < not_learning

    def err(r: dict) -> str:
        return "diverged" if r["diverged"] or not math.isfinite(r["test_error_percent"]) else f"{r['test_error_percent']:.1f}%"

    def best(depth: int, bn: bool) -> dict:
        """The run of the learning rate that did best at this depth (diverged runs last)."""
        runs = [by[(depth, bn, f)] for f in factors]
        return min(
            runs, key=lambda r: r["test_error_percent"] if not r["diverged"] and math.isfinite(r["test_error_percent"]) else math.inf
        )

    def best_err(r: dict) -> str:
        return f"{err(r)} (lr {r['lr']:g})"

    plain = [by[(d, False, low)] for d in depths]
    normed = [by[(d, True, low)] for d in depths]
    plain_best = [best(d, False) for d in depths]
    normed_best = [best(d, True) for d in depths]
    lines = [
        f"- Without batch norm, a deep enough network stops training (test error {not_learning:g}% or more at every learning rate; "
        f"chance is 90%): {verdict(learns(plain_best[0]) and not learns(plain_best[-1]))} — best of each depth: "
        + ", ".join(f"{d} layers: {best_err(r)}" for d, r in zip(depths, plain_best))
        + ".",
        f"- Batch norm lets the deeper networks train (every depth, at its best learning rate): "
        f"{verdict(all(learns(r) for r in normed_best))} — "
        + ", ".join(f"{d} layers: {best_err(r)}" for d, r in zip(depths, normed_best))
        + ".",
        f"- Batch norm trains faster (a lower training loss after the first epoch at every depth, lr {plain[0]['lr']:g}): "
        + verdict(
            all(_loss(n, 1) < _loss(p, 1) or (math.isnan(_loss(p, 1)) and not math.isnan(_loss(n, 1))) for p, n in zip(plain, normed))
        )
        + " — "
        + ", ".join(f"{d} layers: {_loss(p, 1):.3f} without, {_loss(n, 1):.3f} with" for d, p, n in zip(depths, plain, normed))
        + ".",
    ]
    if high != low:
        plain_high = [by[(d, False, high)] for d in depths]
        normed_high = [by[(d, True, high)] for d in depths]
        lines.append(
            f"- Batch norm takes a {high / low:g}x larger learning rate (more depths train with it than without): "
            f"{verdict(sum(map(learns, normed_high)) > sum(map(learns, plain_high)))} — "
            + ", ".join(f"{d} layers: {err(p)} without, {err(n)} with" for d, p, n in zip(depths, plain_high, normed_high))
            + "."
        )
    shallow, deep = _ratio(plain[0]), _ratio(plain[-1])
    deep_bn = _ratio(normed[-1])
    lines.append(
        f"- Gradients vanish towards the input of a deep plain network, not with batch norm (before training, the first convolution's "
        "gradient norm over the last one's falls with depth without batch norm, "
        f"and is 10x larger or more with it at {depths[-1]} layers): "
        f"{verdict(deep < shallow / 10 and deep_bn >= 10 * deep)} — without: "
        + ", ".join(f"{d} layers {_ratio(r):.2g}" for d, r in zip(depths, plain))
        + "; with: "
        + ", ".join(f"{d} layers {_ratio(r):.2g}" for d, r in zip(depths, normed))
        + "."
    )
    return lines


def report_depth_bn(depth_bn: DepthBnParameters, *results: dict[str, Any]) -> dict[str, Any]:
    """The table of every run, the picture (error against depth, loss per epoch, gradient norms
    per layer) and a report of the lecture's claims."""
    rows = [
        {
            "conv layers": r["depth"],
            "batch norm": r["batch_norm"],
            "learning rate": r["lr"],
            "test error (%)": "diverged" if r["diverged"] else round(r["test_error_percent"], 2),
            "final training loss": round(_loss(r), 4),
            "first/last conv gradient norm before training": float(f"{_ratio(r):.3g}"),
            "seconds per epoch": round(r["seconds_per_epoch"], 2),
            "mlflow run": r["mlflow_run_id"],
        }
        for r in sorted(results, key=lambda r: (r["depth"], r["batch_norm"], r["lr_factor"]))
    ]
    table = pd.DataFrame(rows)
    not_learning = float(depth_bn.not_learning_percent)
    claims = check_depth_bn_claims(results, not_learning)
    first = results[0]
    markdown = (
        "# Deep networks with and without batch norm: what these runs show\n\n"
        "The lecture: batch normalisation lets you build deeper networks and speeds up training. The tricks sweep tests "
        "batch norm on the 4-layer SimpLeNet, where it has nothing to rescue; here one VGG-style family (`deep_convnet`: "
        "3x3 convolutions in three stages, PyTorch's default initialisation, global average pooling) is trained at "
        "every depth without and with batch norm, at the base learning rate and at each multiple of it, "
        f"{len(first['history'])} epoch{'s' if len(first['history']) != 1 else ''} "
        f"of the same {first['train_images']} training images (plain SGD with momentum). The gradient norms come from "
        f"one fixed batch of {depth_bn.probe_images} training images. Each run is a child MLflow run tagged "
        "`sweep = depth_bn`.\n\n## The lecture's claims\n\n"
        + "\n".join(claims)
        + "\n\n## Every run\n\n"
        + table.drop(columns="mlflow run").to_markdown(index=False)
        + "\n"
    )
    for line in claims:
        logger.info("%s", line.replace("**", ""))
    return {"table": table, "report": markdown, "plot": depth_bn_figure(results)}

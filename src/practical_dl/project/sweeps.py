"""Training one member of a sweep (tricks, batch x lr, depth x batch norm, dropout vs ensemble)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from practical_dl.core.config import TrainConfig
from practical_dl.core.engine import fit, predict
from practical_dl.core.params import check_known_keys, deep_merge
from practical_dl.core.runtime import set_seed
from practical_dl.core.splits import stratified_subset
from practical_dl.core.standardise import Standardiser
from practical_dl.project.tracking import HISTORY_METRICS, EpochMetrics, member_run
from practical_dl.project.training_setup import input_standardiser, model_from_params, training_config, training_data

logger = logging.getLogger(__name__)

MEMBER_KEYS = {"model", "training", "value"}
SWEEP_KEYS = {"description", "model", "training", "members", "scale_lr"}


def sweep_members(tricks: dict[str, Any]) -> dict[str, list[str]]:
    """``{sweep: [member, ...]}`` in configuration order."""
    sweeps = tricks.get("sweeps") or {}
    if not isinstance(sweeps, dict) or not sweeps:
        raise ValueError("parameter tricks.sweeps must be a mapping of sweeps, each with members")
    out = {}
    for sweep, spec in sweeps.items():
        members = (spec or {}).get("members")
        if not isinstance(members, dict) or not members:
            raise ValueError(f"parameter tricks.sweeps.{sweep}.members must be a non-empty mapping")
        out[sweep] = list(members)
    return out


def member_spec(tricks: dict[str, Any], defaults: dict[str, Any], sweep: str, member: str) -> tuple[dict[str, Any], TrainConfig]:
    """The model parameters and training configuration of one member.

    Layers, each overriding the one before: ``training_defaults``; ``tricks.model`` /
    ``tricks.training``; the sweep's ``model`` / ``training``; the member's. With
    ``scale_lr: true`` on a sweep, the learning rate is scaled by batch size / base batch size.
    """
    where = f"tricks.sweeps.{sweep}"
    sweep_spec = tricks["sweeps"][sweep] or {}
    check_known_keys(sweep_spec, SWEEP_KEYS, where)
    spec = sweep_spec["members"][member] or {}
    check_known_keys(spec, MEMBER_KEYS, f"{where}.members.{member}")
    base_training = deep_merge(tricks.get("training") or {}, sweep_spec.get("training"))
    training = deep_merge(base_training, spec.get("training"))
    model = deep_merge(deep_merge(tricks.get("model") or {}, sweep_spec.get("model")), spec.get("model"))
    config = training_config(defaults, training, where=f"{where}.members.{member}.training")
    if sweep_spec.get("scale_lr"):
        base_batch = training_config(defaults, base_training, where=f"{where}.training").batch_size
        config.lr = config.lr * config.batch_size / base_batch
        config.validate()
    model_from_params(model, f"{where}.members.{member}.model")  # fails early on a bad model block
    return model, config


def train_sweep_member(
    train_split: dict[str, np.ndarray],
    validation_split: dict[str, np.ndarray],
    test_split: dict[str, np.ndarray],
    standardisation_stats: dict,
    tricks: dict[str, Any],
    training_defaults: dict[str, Any],
    augmentation_params: dict[str, Any],
    *,
    sweep: str,
    member: str,
    pipeline: str = "tricks",
) -> dict[str, Any]:
    """Train one member of a sweep in a child MLflow run of its own (tagged with ``pipeline``);
    score it on the test split.

    A diverging member is stopped, tagged ``diverged`` and its run ended as FAILED; the sweep
    goes on.
    """
    result, _, _ = train_member(
        train_split,
        validation_split,
        test_split,
        standardisation_stats,
        tricks,
        training_defaults,
        augmentation_params,
        sweep=sweep,
        member=member,
        pipeline=pipeline,
    )
    return result


def train_member(
    train_split: dict[str, np.ndarray],
    validation_split: dict[str, np.ndarray],
    test_split: dict[str, np.ndarray],
    standardisation_stats: dict,
    tricks: dict[str, Any],
    training_defaults: dict[str, Any],
    augmentation_params: dict[str, Any],
    *,
    sweep: str,
    member: str,
    pipeline: str = "tricks",
    collaborators: Callable[[torch.nn.Module, Standardiser], list] | None = None,
) -> tuple[dict[str, Any], torch.nn.Module, Standardiser]:
    """:func:`train_sweep_member`, also returning the trained model and its input standardiser
    (for pipelines that go on with the model: the dropout ensembles). ``collaborators(model,
    standardiser)``, called once the model is built, gives more collaborators of the training
    loop (e.g. :class:`practical_dl.core.diagnostics.GradientNorms`)."""
    model_params, config = member_spec(tricks, training_defaults, sweep, member)
    train = stratified_subset(train_split, tricks.get("train_limit"), seed=int(tricks.get("seed", 0)))
    set_seed(config.seed)
    images, labels, augment = training_data(train, config, augmentation_params, where=f"tricks.sweeps.{sweep}.members.{member}.training")
    model = model_from_params(model_params, f"tricks.sweeps.{sweep}.members.{member}.model", images.shape[1], images.shape[-1])
    standardiser = input_standardiser(config, standardisation_stats, images.shape[1])
    name = f"{sweep}/{member}"
    tags = {"sweep": sweep, "member": member, "pipeline": pipeline}
    with member_run(name, tags, {"model": model_params, "training": config.to_dict(), "train_images": len(labels)}) as run:
        result = fit(
            model,
            (images, labels),
            (validation_split["images"], validation_split["labels"]),
            standardiser,
            config,
            augment=augment,
            name=name,
            # the metrics to the member's run, as each epoch ends
            callbacks=[EpochMetrics(keys=HISTORY_METRICS), *(collaborators(model, standardiser) if collaborators else [])],
        )
        if result.diverged:
            run.mark_diverged(result.divergence_reason)
        logits = predict(result.model, test_split["images"], standardiser, device=config.device)
        predicted = logits.argmax(1).numpy()
        finite = bool(torch.isfinite(logits).all())
        test_error = 100 * float((predicted != test_split["labels"]).mean()) if finite else math.nan
        seconds_per_epoch = float(np.mean([row["seconds"] for row in result.history]))
        run.log_metrics({"test_error_percent": test_error, "seconds_per_epoch": seconds_per_epoch})
    logger.info("%s: test error %.2f%%%s", name, test_error, " (diverged)" if result.diverged else "")
    summary = {
        "sweep": sweep,
        "member": member,
        "value": (tricks["sweeps"][sweep]["members"][member] or {}).get("value", member),
        "batch_size": config.batch_size,
        "lr": config.lr,
        "train_images": int(len(labels)),
        "history": result.history,
        "test_error_percent": test_error,
        "seconds_per_epoch": seconds_per_epoch,
        "diverged": result.diverged,
        "divergence_reason": result.divergence_reason,
        "mlflow_run_id": run.run_id,
    }
    return summary, result.model, standardiser

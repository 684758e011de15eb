"""Training one member of a sweep (tricks, batch x lr, depth x batch norm, dropout vs ensemble)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from practical_dl.core.augment import AugmentConfig
from practical_dl.core.engine import fit, predict
from practical_dl.core.runtime import set_seed
from practical_dl.core.splits import stratified_subset
from practical_dl.core.standardise import Standardiser
from practical_dl.project.parameters import ModelSpec, TrainingSettings
from practical_dl.project.tracking import HISTORY_METRICS, EpochMetrics, member_run
from practical_dl.project.training_setup import input_standardiser, model_from_params, training_data

logger = logging.getLogger(__name__)


def train_member(
    train_split: dict[str, np.ndarray],
    validation_split: dict[str, np.ndarray],
    test_split: dict[str, np.ndarray],
    standardisation_stats: dict,
    *,
    model: ModelSpec,
    training: TrainingSettings,
    augmentation: AugmentConfig,
    train_limit: int | None,
    seed: int,
    sweep: str,
    member: str,
    pipeline: str,
    where: str,
    value: Any = None,
    collaborators: Callable[[torch.nn.Module, Standardiser], list] | None = None,
) -> tuple[dict[str, Any], torch.nn.Module, Standardiser]:
    """Train one member of a sweep, its ``model`` and ``training`` settings resolved by its pipeline,
    in a child MLflow run of its own (``<sweep>/<member>``, tagged with ``sweep``, ``member`` and
    ``pipeline``); score it on the test split. ``where`` names the member's parameters in errors
    (``tricks.sweeps.dropout.members.on``); ``value`` is how reports show it (default: its name).

    Trains on a stratified slice of ``train_limit`` training images drawn with ``seed`` (the same
    for every member). Returns the member's summary, the trained model and its input standardiser.
    ``collaborators(model, standardiser)`` gives more collaborators of the training loop (e.g.
    :class:`practical_dl.core.diagnostics.GradientNorms`). A diverging member is stopped, tagged
    ``diverged`` and its run ended as FAILED; the sweep goes on.
    """
    config = training
    train = stratified_subset(train_split, train_limit, seed=seed)
    set_seed(config.seed)
    images, labels, augment = training_data(train, config, augmentation, where=f"{where}.training")
    network = model_from_params(model, f"{where}.model", images.shape[1], images.shape[-1])
    standardiser = input_standardiser(config, standardisation_stats, images.shape[1])
    name = f"{sweep}/{member}"
    tags = {"sweep": sweep, "member": member, "pipeline": pipeline}
    with member_run(name, tags, {"model": model.to_dict(), "training": config.to_dict(), "train_images": len(labels)}) as run:
        result = fit(
            network,
            (images, labels),
            (validation_split["images"], validation_split["labels"]),
            standardiser,
            config,
            augment=augment,
            name=name,
            # the metrics to the member's run, as each epoch ends
            callbacks=[EpochMetrics(keys=HISTORY_METRICS), *(collaborators(network, standardiser) if collaborators else [])],
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
        "value": member if value is None else value,
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

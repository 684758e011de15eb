"""Nodes of the ``training`` pipeline (thin: the work is in ``practical_dl.engine``)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from practical_dl.classifier import DigitClassifier, make_classifier
from practical_dl.distributed import from_environment
from practical_dl.engine import fit, set_seed
from practical_dl.tracking import EpochMetrics
from practical_dl.training_setup import (
    data_identity,
    input_standardiser,
    model_from_params,
    training_adversary,
    training_checkpointer,
    training_config,
    training_data,
)

logger = logging.getLogger(__name__)

HISTORY_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


def train_model(
    train_split: dict[str, np.ndarray],
    validation_split: dict[str, np.ndarray],
    standardisation_stats: dict,
    model_params: dict[str, Any],
    training_params: dict[str, Any],
    training_defaults: dict[str, Any],
    augmentation_params: dict[str, Any],
    *,
    model: str = "model",
) -> tuple[DigitClassifier, pd.DataFrame]:
    """Train one model (adversarially, when its ``training.adversarial`` is set); keep the
    weights of its best validation epoch.

    Returns the trained classifier (the network with the standardisation it was trained with,
    see ``practical_dl.classifier``) and the per-epoch history as a table. Each epoch's metrics go
    to MLflow as the epoch ends (``<model>.train_loss``, ``<model>.val_accuracy``, ..., step =
    epoch; ``practical_dl.tracking.EpochMetrics``).

    Launched by ``torchrun``, every process trains on its part of each batch
    (``practical_dl.distributed``); only rank 0 saves checkpoints and logs to MLflow.

    The training state is saved after every ``checkpoint_every`` epochs to
    ``<checkpoint_dir>/<model>.safetensors``; the next run with the same settings goes on from
    it (a model whose training had finished is not trained again), unless ``resume`` is off.
    """
    label = model_params.get("label", model_params.get("name"))
    config = training_config(training_defaults, training_params, where=f"{label}.training")
    set_seed(config.seed)
    images, labels, augment = training_data(train_split, config, augmentation_params, where=f"{label}.training")
    network = model_from_params(model_params, f"{label}.model", in_channels=images.shape[1], image_size=images.shape[-1])
    standardiser = input_standardiser(config, standardisation_stats, images.shape[1])
    identity = (model_params, standardisation_stats, augmentation_params if config.augment is not False else None, data_identity(images, labels))
    checkpointer = training_checkpointer(config, model, *identity)
    resume = checkpointer.resume_state() if checkpointer is not None and config.resume else None
    tracker = EpochMetrics(prefix=model, keys=HISTORY_METRICS)
    # under torchrun: this process's part of every batch; rank 0 alone checkpoints and tracks
    parallel = from_environment(config.distributed_backend, config.sync_batchnorm, config.device)
    result = fit(
        network,
        (images, labels),
        (validation_split["images"], validation_split["labels"]),
        standardiser,
        config,
        augment=augment,
        name=label,
        adversary=training_adversary(config),
        callbacks=parallel.main_only([tracker, checkpointer] if checkpointer is not None else [tracker]),
        resume=resume,
        parallel=parallel,
    )
    if result.diverged:
        logger.error("%s diverged (%s): its weights are those of the last good epoch, if any", label, result.divergence_reason)
    history = pd.DataFrame(result.history)
    history.insert(0, "model", label)
    history["best_epoch"] = result.best_epoch
    history["diverged"] = result.diverged
    tracker.log({"best_epoch": result.best_epoch})
    classifier = make_classifier(result.model.to("cpu"), standardiser, model_params, images.shape[1], images.shape[-1])
    return classifier, history

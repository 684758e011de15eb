"""One member of a sweep (tricks, batch x lr, depth x batch norm, dropout vs ensemble): who it is,
how it is trained (by :func:`practical_dl.project.trainer.train_classifier`) and what it hands on."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from practical_dl.core.augment import AugmentConfig
from practical_dl.core.engine import predict
from practical_dl.core.splits import Split, stratified_subset
from practical_dl.project.parameters import ModelSpec, TrainingSettings
from practical_dl.project.trainer import Collaborators, Member, Network, Trained, TrainingData, train_classifier
from practical_dl.project.training_setup import input_standardiser

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepData:
    """What every member of a sweep trains and is scored on: the splits and the training split's
    standardisation statistics."""

    train: Split
    validation: Split
    test: Split
    standardisation_stats: dict


@dataclass(frozen=True)
class SweepMember:
    """One member's identity: its ``pipeline``, ``sweep`` and ``member`` names (its child MLflow
    run is ``<sweep>/<member>``, its checkpoint ``<pipeline>/<sweep>/<member>``), its slice of
    the training set (``train_limit`` images, stratified, drawn with ``seed``: the same for every
    member), ``where`` its parameters are (in errors) and ``value``, how reports show it (default:
    its name)."""

    pipeline: str
    sweep: str
    member: str
    where: str
    train_limit: int | None = None
    seed: int = 0
    value: Any = None

    @property
    def run_name(self) -> str:
        return f"{self.sweep}/{self.member}"

    @property
    def checkpoint(self) -> str:
        return "/".join(dict.fromkeys([self.pipeline, self.sweep])) + f"/{self.member}"


class MemberSummary(BaseModel):
    """What a trained member hands on to its sweep's report (saved as JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sweep: str
    member: str
    value: Any
    batch_size: int
    lr: float
    train_images: int
    history: list[dict[str, int | float]]
    """One row per epoch trained (``epoch``, ``train_loss``, ``val_accuracy``, ``seconds``, ...)."""
    test_error_percent: float
    """NaN when the test logits were not finite."""
    seconds_per_epoch: float
    diverged: bool
    divergence_reason: str = ""
    mlflow_run_id: str | None = None

    def last(self, key: str) -> float:
        """The last epoch's ``key`` (e.g. ``val_accuracy``), NaN when no epoch has it."""
        values = [row[key] for row in self.history if key in row]
        return values[-1] if values else math.nan

    @property
    def epochs(self) -> int:
        return len(self.history)


def train_member(
    data: SweepData,
    model: ModelSpec,
    training: TrainingSettings,
    augmentation: AugmentConfig,
    who: SweepMember,
    collaborators: Collaborators | None = None,
) -> tuple[MemberSummary, Trained]:
    """Train one member of a sweep in a child MLflow run of its own (``<sweep>/<member>``, tagged
    ``sweep``, ``member`` and ``pipeline``) and score it on the test split.

    Checkpointed like every training (:func:`~practical_dl.project.trainer.train_classifier`):
    rerun with the same settings, a finished member is not trained again and a stopped one goes
    on from its last checkpoint. A diverging member is stopped and its run ended as FAILED; the
    sweep goes on.
    """
    train = stratified_subset(data.train, who.train_limit, seed=who.seed)
    standardiser = input_standardiser(training, data.standardisation_stats, train["images"].shape[1])
    member = Member(
        who.run_name,
        tags={"sweep": who.sweep, "member": who.member, "pipeline": who.pipeline},
        params={"model": model.to_dict(), "train_images": len(train["labels"])},
        checkpoint=who.checkpoint,
        where=who.where,
    )
    trained = train_classifier(
        Network.of(model, f"{who.where}.model"),
        TrainingData(train, data.validation, standardiser),
        training,
        member,
        augmentation,
        collaborators,
    )
    logits = predict(trained.model, data.test["images"], standardiser, device=training.device)
    finite = bool(torch.isfinite(logits).all())
    test_error = 100 * float((logits.argmax(1).numpy() != data.test["labels"]).mean()) if finite else math.nan
    history = trained.fit.history
    seconds_per_epoch = float(np.mean([row["seconds"] for row in history]))
    trained.run.log_metrics({"test_error_percent": test_error, "seconds_per_epoch": seconds_per_epoch})
    logger.info("%s: test error %.2f%%%s", who.run_name, test_error, " (diverged)" if trained.diverged else "")
    summary = MemberSummary(
        sweep=who.sweep,
        member=who.member,
        value=who.member if who.value is None else who.value,
        batch_size=training.batch_size,
        lr=training.lr,
        train_images=trained.train_images,
        history=history,
        test_error_percent=test_error,
        seconds_per_epoch=seconds_per_epoch,
        diverged=trained.diverged,
        divergence_reason=trained.fit.divergence_reason,
        mlflow_run_id=trained.run_id,
    )
    return summary, trained

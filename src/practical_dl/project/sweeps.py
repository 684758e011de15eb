"""One member of a sweep (tricks, batch x lr, depth x batch norm, dropout vs ensemble): who it is,
how it is trained (by :func:`practical_dl.project.trainer.train_classifier`) and what it hands on."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from practical_dl.core.config import AugmentConfig
from practical_dl.core.splits import Split, stratified_subset
from practical_dl.project.parameters import ModelSpec, TrainingSettings

if TYPE_CHECKING:  # torch and the trainer are imported when a member is trained, not when a sweep's pipeline is built
    from torch import nn

    from practical_dl.core.engine import FitResult
    from practical_dl.core.standardise import Standardiser
    from practical_dl.project.trainer import Collaborators, Trained

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepData:
    """The splits every member of a sweep trains and is scored on, and the training split's statistics."""

    train: Split
    validation: Split
    test: Split
    standardisation_stats: dict


@dataclass(frozen=True, kw_only=True)
class SweepMember:
    """One member of a sweep: its names, its slice of the training set and where its parameters are."""

    pipeline: str
    sweep: str
    """The sweep (``learning_rate``); for a pipeline that is one sweep, the pipeline's name."""
    member: str
    where: str
    """The member's parameter block, for errors (``tricks.sweeps.dropout.members.on``)."""
    train_limit: int | None = None
    """A stratified slice of this many training images, the same for every member (None: all)."""
    seed: int = 0
    """The slice's draw."""
    value: Any = None
    """How reports show the member (default: its name)."""

    @property
    def run_name(self) -> str:
        """The child MLflow run's name: ``<sweep>/<member>``."""
        return f"{self.sweep}/{self.member}"

    @property
    def checkpoint(self) -> str:
        """``<pipeline>/<sweep>/<member>``, or ``<pipeline>/<member>`` when the sweep is the pipeline."""
        sweep = "" if self.sweep == self.pipeline else f"{self.sweep}/"
        return f"{self.pipeline}/{sweep}{self.member}"


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
    from practical_dl.project.trainer import Network, RunIdentity, TrainingData, train_classifier
    from practical_dl.project.training_setup import input_standardiser

    train = stratified_subset(data.train, who.train_limit, seed=who.seed)
    standardiser = input_standardiser(training, data.standardisation_stats, train["images"].shape[1])
    identity = RunIdentity(
        name=who.run_name,
        tags={"sweep": who.sweep, "member": who.member, "pipeline": who.pipeline},
        params={"model": model.to_dict()},
        checkpoint=who.checkpoint,
        where=f"{who.where}.training",
    )
    network, data_ = Network.of(model, f"{who.where}.model"), TrainingData(train, data.validation, standardiser)
    trained = train_classifier(network, data_, training, identity, augmentation, collaborators, partial(_scores, data.test, training))
    test_error = trained.scores["test_error_percent"]
    logger.info("%s: test error %.2f%%%s", who.run_name, test_error, " (diverged)" if trained.diverged else "")
    summary = MemberSummary(
        sweep=who.sweep,
        member=who.member,
        value=who.member if who.value is None else who.value,
        batch_size=training.batch_size,
        lr=training.lr,
        train_images=trained.train_images,
        history=trained.fit.history,
        test_error_percent=test_error,
        seconds_per_epoch=trained.scores["seconds_per_epoch"],
        diverged=trained.diverged,
        divergence_reason=trained.fit.divergence_reason,
        mlflow_run_id=trained.run_id,
    )
    return summary, trained


def _scores(test: Split, training: TrainingSettings, model: nn.Module, standardiser: Standardiser, fit: FitResult) -> dict[str, float]:
    """A member's test error (%; NaN when its logits are not finite) and its mean seconds per epoch."""
    import torch

    from practical_dl.core.engine import predict

    logits = predict(model, test["images"], standardiser, device=training.device)
    finite = bool(torch.isfinite(logits).all())
    test_error = 100 * float((logits.argmax(1).numpy() != test["labels"]).mean()) if finite else math.nan
    return {"test_error_percent": test_error, "seconds_per_epoch": float(np.mean([row["seconds"] for row in fit.history]))}

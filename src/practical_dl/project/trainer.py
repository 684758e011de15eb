"""One way to train a classifier, for every pipeline: set-up, checkpoint and resume, the adversary,
the torchrun behaviour and tracking.

A default model, a sweep member, the transfer pipeline's pre-training and each of its target
runs all go through :func:`train_classifier`; what differs between them is data::

    trained = train_classifier(
        Network.of(spec, where="simplenet.model"),
        TrainingData(train_split, validation_split, standardiser),
        config,                                   # a resolved TrainingSettings
        Member("simplenet", label="SimpLeNet"),   # tracked in the active run, metrics "simplenet.*"
        augmentation,
    )

``Member(..., tags={...})`` trains in a child MLflow run of its own instead (a sweep member).
Training is checkpointed after every ``checkpoint_every`` epochs to
``<checkpoint_dir>/<member.checkpoint>.safetensors``; rerun with the same settings, a finished
training is not repeated and a stopped one goes on from its last checkpoint (``resume``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from torch import nn

from practical_dl.core.augment import AugmentConfig
from practical_dl.core.distributed import from_environment
from practical_dl.core.engine import FitResult, fit
from practical_dl.core.runtime import set_seed
from practical_dl.core.splits import Split
from practical_dl.core.standardise import Standardiser
from practical_dl.project.parameters import ModelSpec, TrainingSettings
from practical_dl.project.tracking import HISTORY_METRICS, EpochMetrics, MemberRun, member_run
from practical_dl.project.training_setup import data_identity, model_from_params, training_checkpointer, training_data

logger = logging.getLogger(__name__)

#: Extra collaborators of the training loop, made once the network and its standardiser exist
#: (e.g. :class:`practical_dl.core.diagnostics.GradientNorms`); they run on every process.
Collaborators = Callable[[nn.Module, Standardiser], Sequence[Any]]


@dataclass(frozen=True)
class Network:
    """A classifier to train, made afresh (after the seed is set) for each training.

    ``build(channels, image_size)`` makes it; ``spec`` (JSON-able) says what it is, and is part
    of the checkpoint's fingerprint.
    """

    build: Callable[[int, int], nn.Module]
    spec: Mapping[str, Any]

    @classmethod
    def of(cls, spec: ModelSpec, where: str) -> Network:
        """The network a ``model`` block describes; ``where`` names the block in errors."""
        return cls(partial(model_from_params, spec, where), spec.to_dict())


@dataclass(frozen=True)
class TrainingData:
    """The images a classifier learns from, the validation split that picks its best epoch (or
    None), and the input standardisation it is trained and used with."""

    train: Split
    validation: Split | None
    standardiser: Standardiser


@dataclass(frozen=True)
class Member:
    """Who is trained: names its checkpoint, its log lines and where it is tracked.

    ``tags`` None: tracked in the active MLflow run, its metrics prefixed ``<name>.`` (a default
    model); a mapping: in a child run named ``name`` with these tags, logging ``params`` and
    the ``training`` settings (a member of a sweep). ``checkpoint`` is the checkpoint's name under ``checkpoint_dir`` (default: ``name``);
    ``where`` names the member's ``training`` block in errors.
    """

    name: str
    label: str = ""
    tags: Mapping[str, str] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    checkpoint: str = ""
    where: str = "training"

    @property
    def display_name(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Trained:
    """A trained classifier (its best validation epoch's weights, when selected), the input
    standardisation it was trained with, the training's history and its MLflow run (a child
    run's id; None when tracked in the active run or not tracked)."""

    model: nn.Module
    standardiser: Standardiser
    fit: FitResult
    train_images: int
    run: MemberRun

    @property
    def diverged(self) -> bool:
        return self.fit.diverged

    @property
    def run_id(self) -> str | None:
        return self.run.run_id


def train_classifier(
    network: Network,
    data: TrainingData,
    config: TrainingSettings,
    member: Member,
    augmentation: AugmentConfig | None = None,
    collaborators: Collaborators | None = None,
) -> Trained:
    """Train ``network`` on ``data`` with ``config`` (adversarially, when its ``adversarial`` is set).

    ``augmentation`` is the shared ``augmentation`` block that ``config.augment`` switches on (None:
    never augment). Launched by ``torchrun``, every process trains on its part of each batch
    (:mod:`practical_dl.core.distributed`); only rank 0 checkpoints and logs to MLflow. A diverging
    training is stopped, logged, and its child run (if any) tagged ``diverged`` and ended FAILED.
    """
    set_seed(config.seed)
    images, labels, augment = _training_data(data.train, config, augmentation, member.where)
    model = network.build(images.shape[1], images.shape[-1])
    fingerprint = (
        dict(network.spec),
        asdict(data.standardiser),
        augmentation.to_dict() if augmentation is not None and config.augment is not False else None,
        data_identity(images, labels),
    )
    checkpointer = training_checkpointer(config, member.checkpoint or member.name, *fingerprint)
    resume = checkpointer.resume_state() if checkpointer is not None and config.resume else None
    parallel = from_environment(config.distributed_backend, config.sync_batchnorm, config.device)
    tracker = EpochMetrics(prefix="" if member.tags is not None else member.name, keys=HISTORY_METRICS)
    validation = (data.validation["images"], data.validation["labels"]) if data.validation is not None else None
    with _tracked(member, config) as run:
        callbacks = [
            *parallel.main_only([tracker]),
            *(collaborators(model, data.standardiser) if collaborators else ()),
            *parallel.main_only([checkpointer] if checkpointer is not None else []),  # last: saves what the others noted
        ]
        result = fit(
            model,
            (images, labels),
            validation,
            data.standardiser,
            config,
            augment=augment,
            name=member.display_name,
            adversary=config.adversarial,
            callbacks=callbacks,
            resume=resume,
            parallel=parallel,
        )
        if result.diverged:
            logger.error(
                "%s diverged (%s): its weights are those of the last good epoch, if any", member.display_name, result.divergence_reason
            )
            run.mark_diverged(result.divergence_reason)
        tracker.log({"best_epoch": result.best_epoch})
    return Trained(result.model, data.standardiser, result, int(len(labels)), run)


def _training_data(split: Split, config: TrainingSettings, augmentation: AugmentConfig | None, where: str):
    if augmentation is None:
        return split["images"], split["labels"], None
    return training_data(split, config, augmentation, where=f"{where}.training")


@contextmanager
def _tracked(member: Member, config: TrainingSettings) -> Iterator[MemberRun]:
    if member.tags is None:
        yield MemberRun(None)
        return
    with member_run(member.name, dict(member.tags), {**member.params, "training": config.to_dict()}) as run:
        yield run

"""One way to train a classifier, for every pipeline: set-up, checkpoint and resume, the adversary,
the torchrun behaviour and tracking.

A default model, a sweep member, the transfer pipeline's pre-training and each of its target
runs all go through :func:`train_classifier`; what differs between them is data::

    trained = train_classifier(
        Network.of(spec, where="simplenet.model"),
        TrainingData(train_split, validation_split, standardiser),
        config,                                   # a resolved TrainingSettings
        RunIdentity(name="simplenet", label="SimpLeNet"),   # tracked in the active run: "simplenet.*"
        augmentation,
    )

``RunIdentity(..., tags={...})`` trains in a child MLflow run of its own instead (a sweep member).
Training is checkpointed after every ``checkpoint_every`` epochs to
``<checkpoint_dir>/<who.checkpoint>.safetensors``; rerun with the same settings, a finished
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

from practical_dl.core.config import AugmentConfig
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
    """The images a classifier learns from, its validation split (or None) and its input standardisation."""

    train: Split
    validation: Split | None
    standardiser: Standardiser


@dataclass(frozen=True, kw_only=True)
class RunIdentity:
    """Who is trained: names its checkpoint, its log lines and where it is tracked."""

    name: str
    """The checkpoint's name under ``checkpoint_dir`` (unless ``checkpoint``), the child run's name, the metrics' prefix."""
    label: str = ""
    """How logs name it (default: ``name``)."""
    tags: Mapping[str, str] | None = None
    """None: tracked in the active MLflow run, metrics prefixed ``<name>.`` (a default model); else a child run with these tags."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """What the child run logs as parameters, beside the ``training`` settings and the image count."""
    count_param: str = "train_images"
    """The child run's parameter holding the number of training images."""
    metric_keys: tuple[str, ...] | None = HISTORY_METRICS
    """The history columns logged every epoch (None: every number in a row)."""
    checkpoint: str = ""
    """The checkpoint's name under ``checkpoint_dir`` (default: ``name``)."""
    where: str = "training"
    """The ``training`` block's place in the parameters, for errors (``simplenet.training``)."""

    @property
    def display_name(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Trained:
    """A trained classifier, the standardisation it was trained with, its training and its run.

    ``model`` has the best validation epoch's weights when ``select_best``; ``scores`` are what
    ``evaluate`` returned (logged to the run); ``run`` is the child MLflow run, or a no-op one.
    """

    model: nn.Module
    standardiser: Standardiser
    fit: FitResult
    train_images: int
    run: MemberRun
    scores: Mapping[str, float] = field(default_factory=dict)

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
    who: RunIdentity,
    augmentation: AugmentConfig | None = None,
    collaborators: Collaborators | None = None,
    evaluate: Callable[[nn.Module, Standardiser, FitResult], Mapping[str, float]] | None = None,
) -> Trained:
    """Train ``network`` on ``data`` with ``config`` (adversarially, when its ``adversarial`` is set).

    ``augmentation`` is the shared ``augmentation`` block that ``config.augment`` switches on (None:
    never augment, as the transfer runs). ``evaluate(model, standardiser, fit)`` scores the trained
    model; its scores are logged to the child run before it ends. Launched by ``torchrun``, every
    process trains on its part of each batch (:mod:`practical_dl.core.distributed`); only rank 0
    checkpoints and logs to MLflow, ``collaborators`` run on every process. A diverging training is
    stopped; its child run (if any) is tagged ``diverged`` and ended FAILED.
    """
    set_seed(config.seed)
    images, labels, augment = _training_data(data.train, config, augmentation, who.where)
    model = network.build(images.shape[1], images.shape[-1])
    checkpointer = training_checkpointer(
        config, who.checkpoint or who.name, *_fingerprint(network, data, config, augmentation, images, labels)
    )
    resume = checkpointer.resume_state() if checkpointer is not None and config.resume else None
    parallel = from_environment(config.distributed_backend, config.sync_batchnorm, config.device)
    tracker = EpochMetrics(prefix="" if who.tags is not None else who.name, keys=who.metric_keys)
    validation = (data.validation["images"], data.validation["labels"]) if data.validation is not None else None
    with _tracked(who, config, len(labels)) as run:
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
            name=who.display_name,
            adversary=config.adversarial,
            callbacks=callbacks,
            resume=resume,
            parallel=parallel,
        )
        if result.diverged:
            run.mark_diverged(result.divergence_reason)
        scores = dict(evaluate(result.model, data.standardiser, result)) if evaluate is not None else {}
        run.log_metrics(scores)
    if who.tags is None:
        if result.diverged:
            logger.error(
                "%s diverged (%s): its weights are those of the last good epoch, if any", who.display_name, result.divergence_reason
            )
        tracker.log({"best_epoch": result.best_epoch})
    return Trained(result.model, data.standardiser, result, int(len(labels)), run, scores)


def _fingerprint(network: Network, data: TrainingData, config: TrainingSettings, augmentation, images, labels) -> tuple:
    """What a checkpoint must have been made from to be resumed, beside the training settings: the
    network, the standardisation, the augmentation and the training and validation images."""
    validation = data_identity(data.validation["images"], data.validation["labels"]) if data.validation is not None else None
    return (
        dict(network.spec),
        asdict(data.standardiser),
        augmentation.to_dict() if augmentation is not None and config.augment is not False else None,
        data_identity(images, labels),
        validation,
    )


def _training_data(split: Split, config: TrainingSettings, augmentation: AugmentConfig | None, where: str):
    if augmentation is None:
        return split["images"], split["labels"], None
    return training_data(split, config, augmentation, where=where)


@contextmanager
def _tracked(who: RunIdentity, config: TrainingSettings, train_images: int) -> Iterator[MemberRun]:
    if who.tags is None:
        yield MemberRun(None)
        return
    params = {**who.params, who.count_param: train_images, "training": config.to_dict()}
    with member_run(who.name, dict(who.tags), params) as run:
        yield run

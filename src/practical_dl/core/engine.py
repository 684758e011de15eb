"""The training engine shared by every pipeline that trains.

Plain PyTorch, usable without Kedro::

    from practical_dl.core.config import TrainConfig
    from practical_dl.core.engine import fit
    result = fit(model, (x_train, y_train), (x_val, y_val), standardiser, TrainConfig(epochs=3))

What makes it fast on small image sets (MNIST-sized), and where each trick lives:

* the uint8 data set is kept whole on the training device when it fits under
  ``resident_memory_limit_mb``, else streamed through a ``DataLoader``; conversion,
  standardisation and augmentation run on whole batches on the device (:mod:`.batches`);
* shuffling is an index permutation; metrics are accumulated on the device and read back
  once per epoch (no ``.item()`` per step) (here);
* ``precision: auto`` (bfloat16 autocast where the hardware has it), ``memory_format: auto``
  (``channels_last``), ``cudnn.benchmark`` unless ``deterministic: true`` (:mod:`.runtime`);
  ``torch.compile`` as an option (here).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from practical_dl.core.batches import BatchPreparer, BatchSource
from practical_dl.core.checkpoint import TrainingState
from practical_dl.core.config import TrainConfig
from practical_dl.core.distributed import DataParallel, SingleProcess, from_environment
from practical_dl.core.loop import train_epochs
from practical_dl.core.optim import make_optimizer, make_scheduler
from practical_dl.core.runtime import autocast_context, resolve_device, resolve_memory_format, resolve_precision, use_deterministic_kernels
from practical_dl.core.standardise import Standardiser

logger = logging.getLogger(__name__)


TASKS = ("classification", "regression")


@dataclass
class FitResult:
    """What :func:`fit` returns: the trained model (best validation epoch if selected) and its history."""

    model: nn.Module
    history: list[dict[str, float]]
    best_epoch: int
    diverged: bool = False
    divergence_reason: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Classification:
    """Cross-entropy on the logits, with label smoothing on training batches only; the score is the number of correct predictions."""

    label_smoothing: float = 0.0
    metric = "accuracy"

    def loss(self, out: torch.Tensor, y: torch.Tensor, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's mean loss and its score sum."""
        return F.cross_entropy(out, y, label_smoothing=self.label_smoothing if train else 0.0), (out.argmax(1) == y).sum()

    def goodness(self, row: dict[str, Any]) -> float:
        """How good an epoch is, for keeping the best one: its validation accuracy."""
        return row["val_accuracy"]


@dataclass(frozen=True)
class _Regression:
    """Mean squared error on one output per sample; the score is the summed absolute error."""

    metric = "mae"

    def loss(self, out: torch.Tensor, y: torch.Tensor, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's mean loss and its score sum."""
        pred = out.float().squeeze(1)
        return F.mse_loss(pred, y), (pred.detach() - y).abs().sum()

    def goodness(self, row: dict[str, Any]) -> float:
        """How good an epoch is, for keeping the best one: minus its validation loss."""
        return -row["val_loss"]


def _objective(task: str, label_smoothing: float) -> _Classification | _Regression:
    """The loss, score and best-epoch criterion of ``task`` (one of :data:`TASKS`)."""
    if task == "classification":
        return _Classification(label_smoothing)
    if task == "regression":
        return _Regression()
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def fit(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray] | None,
    standardiser: Standardiser,
    config: TrainConfig,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    name: str = "model",
    task: str = "classification",
    adversary: Callable[[Callable, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    callbacks: Sequence[Any] = (),
    resume: TrainingState | None = None,
    parallel: SingleProcess | DataParallel | None = None,
) -> FitResult:
    """Train ``model`` on uint8 ``N x C x H x W`` images with integer labels (``classification``,
    cross-entropy) or float targets (``regression``, mean squared error on one output).

    ``augment`` maps float batches in [0, 1] to augmented ones (training batches only).
    ``adversary(forward, x, y)`` (e.g. :class:`practical_dl.methods.attack_settings.AdversarialTraining`) then
    replaces training images in [0, 1] by adversarial ones made against the model being trained
    (``forward`` maps images in [0, 1] to its logits). Every
    epoch is evaluated on ``val``; with ``select_best`` the weights of the epoch with the best
    validation accuracy (regression: lowest validation loss) are returned. A non-finite loss or
    one above ``max_loss`` stops training (``diverged=True``) instead of raising, so a sweep goes on.

    The epochs run in the project's one loop (:func:`practical_dl.core.loop.train_epochs`, the task
    being a :class:`SupervisedTask`): after each epoch every callback (collaborator) gets
    ``on_epoch_end(state)`` with a :class:`~practical_dl.core.checkpoint.TrainingState` view of the run,
    e.g. a :class:`~practical_dl.core.checkpoint.Checkpointer` or a
    :class:`~practical_dl.project.tracking.EpochMetrics`. ``resume`` (a saved state of the same run)
    restores model, optimizer, scheduler, random generators, history and best epoch, and goes on
    after its epoch: the result is bit-identical to that of a run never interrupted, wall-clock
    times aside. Without callbacks and ``resume``, nothing of this costs anything.

    ``config.deterministic`` trains with deterministic kernels only (:func:`use_deterministic_kernels`).

    ``parallel`` is how the processes of a data-parallel run share the training
    (:mod:`practical_dl.core.distributed`); by default the one of the environment: under ``torchrun``
    each process trains on its part of every batch of ``config.batch_size`` (the global batch),
    otherwise one process does all. Give the callbacks that write to rank 0 only
    (``parallel.main_only``).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if parallel is None:
        parallel = from_environment(config.distributed_backend, config.sync_batchnorm, config.device)
    parallel.agree_on_resume(resume.epoch if resume is not None else 0, name)
    device = parallel.device(resolve_device(config.device))
    precision = resolve_precision(config.precision, device)
    memory_format = resolve_memory_format(config.memory_format, device, precision)
    model = model.to(device=device, memory_format=memory_format)
    source = BatchSource(*train, device, config.batch_size, config.resident_memory_limit_mb, config.num_workers)
    val_source = (
        BatchSource(*val, device, config.eval_batch_size, config.resident_memory_limit_mb, config.num_workers) if val is not None else None
    )
    supervised = SupervisedTask(
        model,
        source,
        val_source,
        BatchPreparer(standardiser, device, memory_format, augment, adversary),
        config,
        device,
        precision,
        task,
        name,
        parallel,
    )
    settings = {
        "device": str(device),
        "precision": precision,
        "memory_format": str(memory_format).split(".")[-1],
        "resident": source.resident,
        "processes": parallel.world_size,
    }
    logger.info(
        "Training %s on %s (%s, %s, data %s)",
        name,
        device,
        precision,
        settings["memory_format"],
        "on device" if source.resident else "via DataLoader",
    )
    with use_deterministic_kernels(config.deterministic, device):
        result = train_epochs(supervised, config.epochs, config.seed, name, callbacks, resume)
    best_epoch = supervised.best_epoch
    if supervised.best_model is not None:
        model.load_state_dict(supervised.best_model)
        logger.info("%s: keeping the weights of epoch %d (best on validation)", name, best_epoch)
    else:
        best_epoch = result.history[-1]["epoch"]
    model.eval()
    return FitResult(
        model=model,
        history=result.history,
        best_epoch=best_epoch,
        diverged=result.diverged,
        divergence_reason=result.divergence_reason,
        settings=settings,
    )


class SupervisedTask:
    """One epoch of supervised training (classification or regression) and its validation, for
    :func:`practical_dl.core.loop.train_epochs`; keeps the best validation epoch's weights when
    ``config.select_best``.

    ``task`` picks the objective once (loss, score, metric name, best-epoch criterion). Training
    steps go through ``step_model`` (wrapped for data parallelism, compiled when asked), validation
    through ``eval_model``; the adversary attacks the plain ``model``."""

    def __init__(
        self, model, source, val_source, prepare, config: TrainConfig, device, precision, task: str, name: str, parallel=None
    ) -> None:
        self.model, self.source, self.val_source, self.prepare = model, source, val_source, prepare
        self.config, self.device, self.precision, self.task, self.name = config, device, precision, task, name
        self.parallel = parallel if parallel is not None else SingleProcess()
        self.objective = _objective(task, config.label_smoothing)
        self.metric = self.objective.metric
        wrapped = self.parallel.wrap(model)
        self.step_model = torch.compile(wrapped) if config.compile else wrapped
        # validation needs no gradient all-reduce: the plain model (compiled once when not wrapped)
        self.eval_model = self.step_model if wrapped is model else (torch.compile(model) if config.compile else model)
        self.optimizer = make_optimizer(model, config)
        self.scheduler = make_scheduler(self.optimizer, config, len(source))
        self.best_score, self.best_epoch, self.best_model = -math.inf, 0, None

    def train_epoch(self, epoch: int, shuffle: torch.Generator) -> tuple[dict[str, Any], str]:
        config, metric, reason = self.config, self.metric, ""
        self.model.train()
        start = time.perf_counter()
        perm = torch.randperm(self.source.n, generator=shuffle)
        shard = self.parallel.epoch_shard(self.source.n, self.device)
        with tqdm(
            total=len(self.source),
            desc=f"{self.name} epoch {epoch}/{config.epochs}",
            leave=False,
            disable=not config.progress or not self.parallel.is_main,
            unit="batch",
        ) as bar:
            loss_sum, score, seen = self._run_epoch(self.source, shard, train=True, perm=perm, bar=bar)
        loss_sum, score, seen = self.parallel.total(loss_sum, score, seen)  # the one read-back of the epoch
        self.parallel.check_epoch(shard, self.name, epoch)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        row = {
            "train_loss": loss_sum / seen,
            f"train_{metric}": score / seen,
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": seconds,
            "images_per_second": seen / seconds,
        }
        if not math.isfinite(row["train_loss"]) or row["train_loss"] > config.max_loss:
            reason = f"train loss {row['train_loss']:.4g} at epoch {epoch} (limit {config.max_loss:g})"
        if self.val_source is not None and not reason:
            self.model.eval()
            with torch.inference_mode():
                vloss, vscore, vseen = self._run_epoch(
                    self.val_source, self.parallel.epoch_shard(self.val_source.n, self.device), train=False
                )
            vloss, vscore, vseen = self.parallel.total(vloss, vscore, vseen)
            row["val_loss"] = vloss / vseen
            row[f"val_{metric}"] = vscore / vseen
            if not math.isfinite(row["val_loss"]):
                reason = f"validation loss {row['val_loss']} at epoch {epoch}"
            goodness = self.objective.goodness(row)
            if config.select_best and not reason and goodness > self.best_score:
                self.best_score, self.best_epoch = goodness, epoch
                self.best_model = copy.deepcopy(self.model.state_dict())
        return row, reason

    def _run_epoch(
        self, source: BatchSource, shard: Any, train: bool, perm: torch.Tensor | None = None, bar: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """One pass over ``source`` (this process's ``shard`` of each batch): training steps in the order
        ``perm``, or validation; returns this process's (summed loss, summed score, samples), the sums as
        device tensors."""
        model, attacked = (self.step_model, self.model) if train else (self.eval_model, self.eval_model)
        device, precision, objective = self.device, self.precision, self.objective
        loss_sum = torch.zeros((), device=device)
        score = torch.zeros((), device=device)
        seen = 0

        def forward(x: torch.Tensor) -> torch.Tensor:
            with autocast_context(device, precision):
                return attacked(x)

        for step, (xb, yb) in enumerate(source.batches(perm, shard)):
            x = self.prepare(xb, train, forward, yb)
            n = yb.shape[0]
            with autocast_context(device, precision):
                out = model(x)
                loss, batch_score = objective.loss(out, yb, train)
            if train:
                weight = self.parallel.loss_weight(n, min(source.batch_size, source.n - step * source.batch_size))
                self.optimizer.zero_grad(set_to_none=True)
                (loss if weight == 1.0 else loss * weight).backward()
                self.optimizer.step()
                self.scheduler.step()
            if n:  # a process's share of the last batch may be empty (its mean loss then NaN)
                loss_sum += loss.detach().float() * n
            score += batch_score
            seen += n
            if bar is not None:
                bar.update(1)
        return loss_sum, score, seen

    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "best": {"score": self.best_score, "epoch": self.best_epoch, "model": self.best_model},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for source in (self.source, self.val_source):
            if source is not None:
                source.start_workers()  # before the random generators are restored: starting workers draws from them
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        best = state["best"]
        self.best_score, self.best_epoch, self.best_model = best["score"], best["epoch"], best["model"]

    def summary(self, row: dict[str, Any]) -> str:
        metric = self.metric
        val_loss = f"{row['val_loss']:.4f}" if "val_loss" in row else "-"
        val_metric = f"{row[f'val_{metric}']:.4f}" if f"val_{metric}" in row else "-"
        return (
            f"train loss {row['train_loss']:.4f} {metric} {row[f'train_{metric}']:.4f} | val loss {val_loss} {metric} {val_metric}"
            f" | {row['seconds']:.1f}s ({row['images_per_second']:.0f} img/s)"
        )


def predict(
    model: nn.Module,
    images: np.ndarray,
    standardiser: Standardiser,
    device: str | torch.device = "auto",
    precision: str = "auto",
    batch_size: int = 1000,
    sample_dropout: bool = False,
) -> torch.Tensor:
    """Logits (float32, on the CPU) of ``model`` for uint8 ``N x C x H x W`` images.

    ``sample_dropout``: the dropout layers keep dropping (everything else in evaluation mode),
    so each call draws one member of the implicit ensemble (Monte-Carlo dropout, Gal and
    Ghahramani 2016); seed ``torch`` first for reproducible draws.
    """
    device = resolve_device(device) if isinstance(device, str) else device
    precision = resolve_precision(precision, device)
    memory_format = resolve_memory_format("auto", device, precision)
    # moved outside inference mode: parameters converted inside it could not be trained again
    model = model.to(device=device, memory_format=memory_format).eval()
    if sample_dropout:
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.train()
    source = BatchSource(images, np.zeros(len(images), dtype=np.int64), device, batch_size)
    prepare = BatchPreparer(standardiser, device, memory_format)
    out = []
    with torch.inference_mode():
        for xb, _ in source.batches():
            with autocast_context(device, precision):
                out.append(model(prepare(xb, train=False)).float())
    return torch.cat(out).cpu()

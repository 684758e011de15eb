"""The one epoch loop of the project: the classifiers (:func:`practical_dl.core.engine.fit`) and the
DCGAN (:func:`practical_dl.methods.gan.training.train_dcgan`) both train through :func:`train_epochs`.

A *task* says what one epoch is and what its state is; the loop does the rest: the epochs (from
the first, or after those of a resumed :class:`~practical_dl.core.checkpoint.TrainingState`), the
shuffle generator, the history, stopping on divergence, the log line, and the collaborators called
as each epoch ends — :class:`~practical_dl.core.checkpoint.Checkpointer` (save the state, resume from
it) and the project's MLflow tracker (metrics to MLflow as the epoch ends) — in the
way Lightning makes checkpointing and logging callbacks of one loop. Plain PyTorch::

    result = train_epochs(task, epochs=10, seed=0, name="net", callbacks=[checkpointer], resume=checkpointer.resume_state())

A collaborator has ``on_epoch_end(state)`` and, optionally, ``on_resume(state)`` (called once,
before the first epoch of a resumed run, with the restored state). ``state.meta`` (strings) is
saved with the checkpoint: a collaborator may note there what it needs after a resume (the
tracker notes its MLflow run). Put the tracker before the checkpointer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from practical_dl.core.checkpoint import TrainingState, restore_rng, rng_state

logger = logging.getLogger(__name__)


class EpochTask(Protocol):
    """One kind of training, an epoch at a time."""

    def train_epoch(self, epoch: int, shuffle: torch.Generator) -> tuple[dict[str, Any], str]:
        """Train (and evaluate) epoch ``epoch``, drawing its order from ``shuffle``; return the
        history row (without ``epoch``) and a divergence reason ("" when training may go on)."""

    def state(self) -> dict[str, Any]:
        """A view of everything to save (modules', optimizers', schedulers' state dicts, bookkeeping)."""

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` gave (called before the random generators are restored)."""

    def summary(self, row: dict[str, Any]) -> str:
        """The log line of an epoch's row."""


@dataclass
class LoopResult:
    history: list[dict[str, Any]]
    diverged: bool = False
    divergence_reason: str = ""


def train_epochs(
    task: EpochTask,
    epochs: int,
    seed: int,
    name: str,
    callbacks: Sequence[Any] = (),
    resume: TrainingState | None = None,
) -> LoopResult:
    """Train ``task`` for ``epochs`` epochs (or what is left of them after ``resume``)."""
    shuffle = torch.Generator().manual_seed(seed)
    history: list[dict[str, Any]] = []
    diverged, reason, first = False, "", 1
    meta: dict[str, str] = {}
    if resume is not None:
        task.load_state(resume.task)
        restore_rng(resume.rng, shuffle)
        history = [dict(row) for row in resume.history]
        diverged, reason, meta = resume.diverged, resume.divergence_reason, dict(resume.meta)
        first = epochs + 1 if diverged else resume.epoch + 1
        if first > epochs:
            logger.info(
                "%s: already trained (%d of %d epochs%s in its checkpoint): not trained again",
                name,
                resume.epoch,
                epochs,
                ", diverged" if diverged else "",
            )
        else:
            logger.info("%s: resuming after epoch %d of %d", name, resume.epoch, epochs)
        for callback in callbacks:
            if hasattr(callback, "on_resume"):
                callback.on_resume(resume)
    for epoch in range(first, epochs + 1):
        row, reason = task.train_epoch(epoch, shuffle)
        row = {"epoch": epoch, **row}
        diverged = bool(reason)
        history.append(row)
        if callbacks:
            state = TrainingState(
                epoch=epoch,
                epochs=epochs,
                task=task.state(),
                rng=rng_state(shuffle),
                history=history,
                diverged=diverged,
                divergence_reason=reason,
                meta=meta,
            )
            for callback in callbacks:
                if hasattr(callback, "on_epoch_end"):
                    callback.on_epoch_end(state)
        if diverged:
            logger.warning("%s diverged: %s; training stopped", name, reason)
            break
        logger.info("%s epoch %d/%d: %s", name, epoch, epochs, task.summary(row))
    return LoopResult(history, diverged, reason)

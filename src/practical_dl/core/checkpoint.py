"""Training checkpoints: the whole state of a training run after an epoch, for the classifiers
(:func:`practical_dl.core.engine.fit`) and the DCGAN (:func:`practical_dl.methods.gan.training.train_dcgan`) alike:
both train through :func:`practical_dl.core.loop.train_epochs`, which calls the :class:`Checkpointer`.

A training run killed after epoch k and resumed from its checkpoint ends with bit-identical
weights, history (except wall-clock times) and best epoch to one never interrupted (on the
same machine and software). Plain PyTorch, usable without Kedro::

    from practical_dl.core.checkpoint import Checkpointer, settings_fingerprint
    checkpointer = Checkpointer("data/06_models/run.ckpt", fingerprint=settings_fingerprint(config.to_dict()))
    result = fit(model, train, val, standardiser, config, callbacks=[checkpointer], resume=checkpointer.resume_state())

The file is ONE safetensors file, nothing pickled: every tensor (model, optimizer state, best
model, random number generator states) under a prefixed key (``task/model/conv1.weight``,
``task/optimizer/state/0/momentum_buffer``, ``task/best/model/...``, ``rng/torch``,
``rng/shuffle``), and everything else (epoch, history, optimizer param groups, scheduler state,
best score and epoch, fingerprint, the collaborators' notes) as JSON in the header's metadata. It is written atomically: a kill while saving
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from time import monotonic
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch

logger = logging.getLogger(__name__)

FORMAT = "practical_dl.checkpoint/2"  # 2: the task's state under task/ (1: a classifier's only)


class CheckpointFormatError(ValueError):
    """A file that is not a checkpoint of this version (an older format, or another file)."""


@dataclass
class TrainingState:
    """Everything :func:`practical_dl.core.loop.train_epochs` needs to go on after ``epoch`` completed epochs.

    ``task`` is the training task's own state (for a classifier: model, optimizer, scheduler and
    the best epoch's weights; for the DCGAN: both networks, both optimizers and the progress
    images). The loop builds it as a *view*: its tensors are the live tensors of the model and
    optimizer, valid while a collaborator's ``on_epoch_end`` runs. Save it (or copy it) there.
    """

    epoch: int  # completed epochs
    task: dict[str, Any]
    rng: dict[str, Any]  # shuffle (the loop's permutation generator), torch, cuda (list), numpy
    history: list[dict[str, Any]]
    epochs: int = 0  # epochs the run was configured for
    diverged: bool = False
    divergence_reason: str = ""
    fingerprint: str = ""  # identifies the run's settings (given by the caller)
    meta: dict[str, str] = field(default_factory=dict)  # notes of the collaborators (e.g. the MLflow run)

    @property
    def finished(self) -> bool:
        """No epoch left to train: all done, or training diverged."""
        return self.diverged or self.epoch >= self.epochs


# --------------------------------------------------------------------------- random number generators


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """The states of ``generator`` (the loop's shuffle), torch's global CPU generator (augmentation,
    adversarial random starts, DataLoader seeds), the CUDA generators if CUDA is initialised,
    and numpy's legacy global generator. Reading them draws nothing."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "shuffle": generator.get_state(),
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    """Inverse of :func:`rng_state`."""
    generator.set_state(state["shuffle"])
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    if "cuda" in state and torch.cuda.is_available():
        if len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        else:
            logger.warning(
                "checkpoint has %d CUDA generator states, this machine %d GPUs: CUDA draws not restored",
                len(state["cuda"]),
                torch.cuda.device_count(),
            )


# --------------------------------------------------------------------------- the file


def _row_major_strides(shape: torch.Size) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def _encode(value: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able form of ``value``; tensors are moved into ``tensors`` under ``key`` and referred to."""
    if isinstance(value, torch.Tensor):
        if key in tensors:
            raise ValueError(f"two tensors would be saved as {key!r}")
        t = value.detach()
        ref: dict[str, Any] = {"__tensor__": key}
        if t.stride() != _row_major_strides(t.shape):  # e.g. channels_last: restored with the same strides
            ref["stride"] = list(t.stride())
        tensors[key] = t.to("cpu").contiguous()
        return ref
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _encode(v, f"{key}/{k}", tensors) for k, v in value.items()}
        return {"__items__": [[k, _encode(v, f"{key}/{k}", tensors)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{key}/{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{key}/{i}", tensors) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot save {key} of type {type(value).__name__} in a checkpoint")


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        t = tensors[value["__tensor__"]]
        if "stride" in value:
            t = torch.empty_strided(t.shape, value["stride"], dtype=t.dtype).copy_(t)
        return t
    if "__tuple__" in value:
        return tuple(_decode(v, tensors) for v in value["__tuple__"])
    if "__items__" in value:
        return {k: _decode(v, tensors) for k, v in value["__items__"]}
    return {k: _decode(v, tensors) for k, v in value.items()}


def save_checkpoint(state: TrainingState, path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` as one safetensors file, atomically (temporary file in the same
    folder, fsync, rename): a kill while saving leaves the previous file intact."""
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    tree = {
        "epoch": state.epoch,
        "epochs": state.epochs,
        "task": _encode(state.task, "task", tensors),
        "rng": _encode(state.rng, "rng", tensors),
        "history": _encode(state.history, "history", tensors),
        "diverged": state.diverged,
        "divergence_reason": state.divergence_reason,
        "meta": dict(state.meta),
    }
    # tensors sharing memory (tied weights) are refused by safetensors: save copies
    seen: set[int] = set()
    for key, t in tensors.items():
        if t.numel():
            if t.untyped_storage().data_ptr() in seen:
                tensors[key] = t = t.clone()
            seen.add(t.untyped_storage().data_ptr())
    metadata = {"format": FORMAT, "fingerprint": state.fingerprint, "state": json.dumps(tree)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it 0600: give it the permissions of any new file
        with os.fdopen(fd, "wb") as f:
            f.write(safetensors.torch.save(tensors, metadata=metadata))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # e.g. a full disk: say which file, keep the previous one
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, f"could not save the checkpoint {path} (the previous one is kept): {exc.strerror or exc}") from exc
    except BaseException:  # Ctrl-C while saving: the previous checkpoint is kept
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); not possible on every system."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike) -> TrainingState:
    """Read a file written by :func:`save_checkpoint` (tensors on the CPU)."""
    with safetensors.safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        if metadata.get("format") != FORMAT:
            raise CheckpointFormatError(f"{path} is not a {FORMAT} checkpoint (format {metadata.get('format')!r})")
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    tree = _decode(json.loads(metadata["state"]), tensors)
    return TrainingState(
        epoch=tree["epoch"],
        task=tree["task"],
        rng=tree["rng"],
        history=tree["history"],
        epochs=tree["epochs"],
        diverged=tree["diverged"],
        divergence_reason=tree["divergence_reason"],
        fingerprint=metadata["fingerprint"],
        meta=tree["meta"],
    )


def settings_fingerprint(*settings: Any) -> str:
    """A short hash of JSON-able settings (e.g. ``config.to_dict()``, model parameters, data version)."""
    text = json.dumps(settings, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- the collaborator


@dataclass
class Checkpointer:
    """Saves the training state to ``path`` every ``every`` epochs, at most once per ``min_seconds``, and after the last.

    :meth:`resume_state` gives it back if it was made with the same ``fingerprint``. ``min_seconds`` (counted from the
    last save, the first time from the checkpointer's making) keeps a run of many short epochs from spending its time
    writing checkpoints; a stop then loses up to ``min_seconds`` and an epoch of training.

    Pass it in ``fit(..., callbacks=[checkpointer], resume=checkpointer.resume_state())``.
    """

    path: str | os.PathLike
    every: int = 1
    fingerprint: str = ""
    min_seconds: float = 0.0
    saved: list[int] = field(default_factory=list, repr=False)  # epochs saved by this object
    last_save: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"every must be a positive integer, got {self.every!r}")
        if not self.min_seconds >= 0:
            raise ValueError(f"min_seconds must be >= 0, got {self.min_seconds!r}")
        self.last_save = monotonic()

    def on_epoch_end(self, state: TrainingState) -> None:
        due = state.epoch % self.every == 0 and monotonic() - self.last_save >= self.min_seconds
        if due or state.finished:
            save_checkpoint(replace(state, fingerprint=self.fingerprint), self.path)
            self.saved.append(state.epoch)
            self.last_save = monotonic()
            logger.info("checkpoint %s saved after epoch %d", self.path, state.epoch)

    def resume_state(self) -> TrainingState | None:
        """The saved state, or None when there is none or it was made with other settings."""
        if not self.path.exists():
            return None
        try:
            state = load_checkpoint(self.path)
        except CheckpointFormatError as exc:
            logger.warning("%s; starting afresh", exc)
            return None
        if state.fingerprint != self.fingerprint:
            logger.warning(
                "checkpoint %s was made with other settings (fingerprint %s, this run %s); starting afresh",
                self.path,
                state.fingerprint,
                self.fingerprint,
            )
            return None
        logger.info("resuming from checkpoint %s (epoch %d)", self.path, state.epoch)
        return state

"""The training engine shared by every pipeline that trains.

Plain PyTorch, usable without Kedro::

    from practical_dl.engine import TrainConfig, fit
    result = fit(model, (x_train, y_train), (x_val, y_val), standardiser, TrainConfig(epochs=3))

What makes it fast on small image sets (MNIST-sized):

* the uint8 data set is kept whole on the training device when it fits under
  ``resident_memory_limit_mb``; larger sets stream through a ``DataLoader`` with pinned memory
  and workers. Either way the host sends uint8, never float32.
* conversion, standardisation and augmentation run on whole batches on the device;
* shuffling is an index permutation; metrics are accumulated on the device and read back
  once per epoch (no ``.item()`` per step);
* ``precision: auto`` uses ``torch.autocast`` with bfloat16 on CUDA and on CPUs with native
  bfloat16 (AVX512-BF16 / AMX), fp32 elsewhere; ``memory_format: auto`` is ``channels_last``
  (CUDA and CPU); ``cudnn.benchmark`` on CUDA (``deterministic: true`` trades it for
  bit-reproducible kernels); ``torch.compile`` as an option.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from practical_dl.checkpoint import TrainingState
from practical_dl.distributed import BACKENDS, DataParallel, SingleProcess, from_environment
from practical_dl.loop import train_epochs
from practical_dl.params import settings_from_params
from practical_dl.standardise import Standardiser

logger = logging.getLogger(__name__)

TASKS = ("classification", "regression")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "onecycle")
PRECISIONS = ("auto", "fp32", "bf16")
MEMORY_FORMATS = ("auto", "contiguous", "channels_last")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class TrainConfig:
    """Everything that decides how a model is trained (``parameters_training.yml``)."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    warmup_fraction: float = 0.2
    label_smoothing: float = 0.0
    seed: int = 2022  # as in parameters_training.yml
    device: str = "auto"
    precision: str = "auto"
    memory_format: str = "auto"
    compile: bool = False
    deterministic: bool = False  # CUDA: deterministic kernels only (see use_deterministic_kernels); CPU is deterministic anyway
    resident_memory_limit_mb: float = 4096
    num_workers: int = 2
    eval_batch_size: int = 1000
    select_best: bool = True
    max_loss: float = 100.0
    progress: bool = True
    augment: bool | dict = False  # true: the shared `augmentation` block's transforms; a mapping: that block with these settings changed (read by the nodes)
    standardise: bool = True  # x' = (x - mean) / std; off: only scaled to [0, 1] (read by the nodes)
    adversarial: dict[str, Any] | None = None  # adversarial training, see practical_dl.attacks.AdversarialTraining (read by the nodes)
    checkpoint_every: int = 1  # save the training state every N epochs (0: never), see practical_dl.checkpoint (read by the nodes)
    resume: bool = True  # go on from a checkpoint made with the same settings (read by the nodes)
    checkpoint_dir: str = "data/06_models/checkpoints"  # one file per model (read by the nodes)
    sync_batchnorm: bool = False  # under torchrun: batch-norm statistics over the global batch (SyncBatchNorm)
    distributed_backend: str = "auto"  # under torchrun: auto (nccl on CUDA, gloo on CPU) | gloo | nccl

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_dict(cls, params: dict[str, Any] | None, where: str = "training") -> TrainConfig:
        """Build from a parameter block; errors name the parameter as ``where.key``."""
        return settings_from_params(cls, params, where)

    def validate(self) -> None:
        """Raise ``ValueError('<name> ...')`` for the first invalid field."""

        def bad(name: str, why: str) -> None:
            raise ValueError(f"{name} {why}, got {getattr(self, name)!r}")

        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                bad(name, "must be a positive integer")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0 or not math.isfinite(self.lr):
            bad("lr", "must be a finite number > 0")
        if not 0 <= self.momentum < 1:
            bad("momentum", "must be in [0, 1)")
        if self.weight_decay < 0:
            bad("weight_decay", "must be >= 0")
        if not 0 <= self.label_smoothing < 1:
            bad("label_smoothing", "must be in [0, 1)")
        if not 0 < self.warmup_fraction < 1:
            bad("warmup_fraction", "must be in (0, 1)")
        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", f"must be one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            bad("schedule", f"must be one of {SCHEDULES}")
        if self.precision not in PRECISIONS:
            bad("precision", f"must be one of {PRECISIONS}")
        if self.memory_format not in MEMORY_FORMATS:
            bad("memory_format", f"must be one of {MEMORY_FORMATS}")
        if self.device not in DEVICES and not str(self.device).startswith("cuda:"):
            bad("device", f"must be one of {DEVICES} or 'cuda:N'")
        if self.resident_memory_limit_mb < 0:
            bad("resident_memory_limit_mb", "must be >= 0")
        if self.num_workers < 0:
            bad("num_workers", "must be >= 0")
        if not self.max_loss > 0:
            bad("max_loss", "must be > 0")
        if isinstance(self.checkpoint_every, bool) or not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 0:
            bad("checkpoint_every", "must be an integer >= 0 (0: no checkpoints)")
        if not isinstance(self.augment, (bool, dict)):
            bad("augment", "must be true, false or a mapping of augmentation settings (e.g. {rotation_degrees: 5})")
        if not isinstance(self.resume, bool):
            bad("resume", "must be true or false")
        if not isinstance(self.deterministic, bool):
            bad("deterministic", "must be true or false")
        if not isinstance(self.sync_batchnorm, bool):
            bad("sync_batchnorm", "must be true or false")
        if self.distributed_backend not in BACKENDS:
            bad("distributed_backend", f"must be one of {BACKENDS}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- device and precision


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; other names are taken as given."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for, but CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} was asked for, but MPS is not available on this machine")
    return device


def cpu_has_native_bf16() -> bool:
    """True on CPUs whose instruction set computes bfloat16 natively (AVX512-BF16 or AMX)."""
    cpu = getattr(torch._C, "_cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, c, lambda: False)()) for c in checks) if cpu is not None else False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` on CUDA with bf16 support and on CPUs with native bf16, else ``fp32``."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"


def resolve_memory_format(memory_format: str, device: torch.device, precision: str) -> torch.memory_format:
    """``auto`` -> ``channels_last`` on CUDA and on the CPU, contiguous on MPS.

    oneDNN's CPU convolutions are fastest in NHWC too: on a 2-core AMD EPYC (fp32, no native
    bf16) a SimpLeNet training step runs about 40% faster in ``channels_last``.
    """
    if memory_format == "auto":
        memory_format = "contiguous" if device.type == "mps" else "channels_last"
    return torch.channels_last if memory_format == "channels_last" else torch.contiguous_format


def autocast_context(device: torch.device, precision: str):
    """Autocast for bf16, a no-op for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


@contextmanager
def use_deterministic_kernels(enabled: bool, device: torch.device) -> Iterator[None]:
    """On CUDA, ``enabled`` makes training bit-reproducible: deterministic algorithms only
    (``torch.use_deterministic_algorithms``; an op without one raises and names itself), cuDNN's
    deterministic kernels without autotuning, and the cuBLAS workspace setting that its
    deterministic mode needs (``CUBLAS_WORKSPACE_CONFIG``, effective when set before the first
    matrix product of the process). Off, cuDNN autotunes (``benchmark``): faster, and the same seed
    may give results that differ in the last bits. The previous settings come back afterwards.
    On the CPU the engine's training is deterministic either way."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[1], before[2]


def set_seed(seed: int) -> None:
    """Seed torch (CPU and CUDA) and numpy's legacy global state."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


# --------------------------------------------------------------------------- data on the device


class _ArrayDataset(torch.utils.data.Dataset):
    """uint8 images and labels served a whole batch at a time (``__getitems__``)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = _targets(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices)
        return self.images[idx], self.labels[idx]


def _targets(labels: np.ndarray) -> torch.Tensor:
    """Class labels as int64, regression targets as float32."""
    labels = np.ascontiguousarray(labels)
    return torch.from_numpy(labels.astype(np.float32 if labels.dtype.kind == "f" else np.int64))


def _whole_batch(batch: Any) -> Any:
    return batch


class _EpochBatchSampler(torch.utils.data.Sampler):
    """Yields consecutive slices of the permutation set for the current epoch."""

    def __init__(self, n: int, batch_size: int) -> None:
        self.n, self.batch_size = n, batch_size
        self.perm = torch.arange(n)
        self.shard: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(0, self.n, self.batch_size):
            idx = self.perm[i : i + self.batch_size]
            yield (self.shard(idx) if self.shard is not None else idx).tolist()


class BatchSource:
    """Serves uint8 image batches and int64 label batches on ``device`` in a given order.

    ``resident`` keeps the whole set on the device; otherwise a ``DataLoader`` with pinned
    memory and workers streams it. Both give the same batches for the same permutation.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        device: torch.device,
        batch_size: int,
        memory_limit_mb: float = 4096,
        num_workers: int = 2,
    ) -> None:
        if images.ndim != 4:
            raise ValueError(f"expected N x C x H x W images, got shape {images.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.n = len(labels)
        self.device = device
        self.batch_size = batch_size
        size_mb = (images.nbytes + labels.size * 8) / 2**20
        self.resident = size_mb <= memory_limit_mb
        if self.resident:
            self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device)
            self.labels = _targets(labels).to(device)
        else:
            self._sampler = _EpochBatchSampler(self.n, batch_size)
            self._loader = torch.utils.data.DataLoader(
                _ArrayDataset(images, labels),
                batch_sampler=self._sampler,
                collate_fn=_whole_batch,
                num_workers=num_workers,
                pin_memory=device.type == "cuda",
                persistent_workers=num_workers > 0,
            )

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def batches(
        self, perm: torch.Tensor | None = None, shard: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Iterate over batches in the order of ``perm`` (a CPU index permutation) or in order.
        ``shard`` maps the indices of each batch to the part of it this process takes
        (:class:`practical_dl.distributed.EpochShard`); without it, the whole batch."""
        if shard is not None and perm is None:
            perm = torch.arange(self.n)
        if self.resident:
            if perm is None:
                for i in range(0, self.n, self.batch_size):
                    yield self.images[i : i + self.batch_size], self.labels[i : i + self.batch_size]
                return
            perm = perm.to(self.device, non_blocking=True)
            for i in range(0, self.n, self.batch_size):
                idx = perm[i : i + self.batch_size]
                if shard is not None:
                    idx = shard(idx)
                yield self.images.index_select(0, idx), self.labels.index_select(0, idx)
        else:
            self._sampler.perm = perm if perm is not None else torch.arange(self.n)
            self._sampler.shard = shard
            for x, y in self._loader:
                yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def start_workers(self) -> None:
        """Start persistent DataLoader workers now. Their start draws a seed from torch's global
        generator once per run; a resumed run calls this before restoring that generator so
        that its later draws match those of a run never interrupted."""
        if not self.resident and self._loader.persistent_workers:
            iter(self._loader)


# --------------------------------------------------------------------------- training


@dataclass
class FitResult:
    """What :func:`fit` returns: the trained model (best validation epoch if selected) and its history."""

    model: nn.Module
    history: list[dict[str, float]]
    best_epoch: int
    diverged: bool = False
    divergence_reason: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (with momentum) or Adam/AdamW over the trainable parameters.

    No weight decay on biases and normalisation weights. A parameter with an ``lr_factor``
    attribute (e.g. a pre-trained backbone being fine-tuned) trains at that fraction of the rate.
    """
    groups: dict[tuple[bool, float], list[torch.Tensor]] = {}
    for p in model.parameters():
        if p.requires_grad:
            groups.setdefault((p.ndim > 1, float(getattr(p, "lr_factor", 1.0))), []).append(p)
    param_groups = [
        {"params": ps, "weight_decay": config.weight_decay if decay else 0.0, "lr": config.lr * factor, "lr_factor": factor}
        for (decay, factor), ps in groups.items()
    ]
    if not param_groups:
        raise ValueError("the model has no trainable parameters")
    if config.optimizer == "sgd":
        return torch.optim.SGD(param_groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov and config.momentum > 0)
    if config.optimizer == "adam":
        return torch.optim.Adam(param_groups, lr=config.lr)
    return torch.optim.AdamW(param_groups, lr=config.lr)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    """A per-step learning-rate schedule (constant, cosine or one-cycle)."""
    total = config.epochs * steps_per_epoch
    if config.schedule == "onecycle" and total >= 4:
        # each phase needs two steps or more (torch divides by the length of each phase)
        pct_start = min(max(config.warmup_fraction, 2.5 / total), 1 - 2.5 / total)
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[config.lr * g["lr_factor"] for g in optimizer.param_groups],
            total_steps=total,
            pct_start=pct_start,
            cycle_momentum=config.optimizer == "sgd" and config.momentum > 0,
        )
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


class _BatchPreparer:
    """uint8 batch -> float, optional augmentation and adversarial examples in [0, 1],
    standardisation (:class:`~practical_dl.standardise.Standardise`), memory format."""

    def __init__(self, standardiser: Standardiser, device: torch.device, memory_format, augment=None, adversary=None) -> None:
        self.standardise = standardiser.module().to(device)
        self.inv_scale = 1.0 / standardiser.scale
        self.memory_format = memory_format
        self.augment = augment
        self.adversary = adversary

    def _in_format(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=self.memory_format)

    def __call__(self, x: torch.Tensor, train: bool, forward=None, y: torch.Tensor | None = None) -> torch.Tensor:
        """``forward`` (model input -> logits) and labels ``y`` are needed by the adversary only."""
        if not train or (self.augment is None and self.adversary is None):
            return self._in_format(self.standardise.raw(x))
        x01 = x.float() * self.inv_scale
        if self.augment is not None:
            x01 = self.augment(x01)
        if self.adversary is not None:
            x01 = self.adversary(lambda z: forward(self._in_format(self.standardise(z))), x01, y)
        return self._in_format(self.standardise(x01))


def _loss(out: torch.Tensor, y: torch.Tensor, task: str, label_smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss and the per-batch score sum: correct predictions (classification) or summed
    absolute error (regression, one output per sample)."""
    if task == "regression":
        pred = out.float().squeeze(1)
        return F.mse_loss(pred, y), (pred.detach() - y).abs().sum()
    return F.cross_entropy(out, y, label_smoothing=label_smoothing), (out.argmax(1) == y).sum()


def _run_epoch(
    model,
    source,
    prepare,
    device,
    precision,
    perm=None,
    optimizer=None,
    scheduler=None,
    label_smoothing=0.0,
    bar=None,
    task="classification",
    parallel: SingleProcess | DataParallel | None = None,
    shard=None,
    module=None,
):
    """One pass over ``source`` (this process's ``shard`` of each batch, when given); returns
    (summed loss, summed score, samples) of this process, sums as device tensors.

    ``module`` is the plain model inside ``model`` (a ``DistributedDataParallel``), which the
    adversary attacks: only training steps go through the wrapper."""
    train = optimizer is not None
    parallel = parallel if parallel is not None else SingleProcess()
    loss_sum = torch.zeros((), device=device)
    score = torch.zeros((), device=device)
    seen = 0
    attacked = module if module is not None else model

    def forward(x: torch.Tensor) -> torch.Tensor:
        with autocast_context(device, precision):
            return attacked(x)

    for step, (xb, yb) in enumerate(source.batches(perm, shard)):
        x = prepare(xb, train, forward, yb)
        n = yb.shape[0]
        with autocast_context(device, precision):
            out = model(x)
            loss, batch_score = _loss(out, yb, task, label_smoothing if train else 0.0)
        if train:
            weight = parallel.loss_weight(n, min(source.batch_size, source.n - step * source.batch_size))
            optimizer.zero_grad(set_to_none=True)
            (loss if weight == 1.0 else loss * weight).backward()
            optimizer.step()
            scheduler.step()
        if n:  # a process's share of the last batch may be empty (its mean loss then NaN)
            loss_sum += loss.detach().float() * n
        score += batch_score
        seen += n
        if bar is not None:
            bar.update(1)
    return loss_sum, score, seen


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
    ``adversary(forward, x, y)`` (e.g. :class:`practical_dl.attacks.AdversarialTraining`) then
    replaces training images in [0, 1] by adversarial ones made against the model being trained
    (``forward`` maps images in [0, 1] to its logits). Every
    epoch is evaluated on ``val``; with ``select_best`` the weights of the epoch with the best
    validation accuracy (regression: lowest validation loss) are returned. A non-finite loss or
    one above ``max_loss`` stops training (``diverged=True``) instead of raising, so a sweep goes on.

    The epochs run in the project's one loop (:func:`practical_dl.loop.train_epochs`, the task
    being a :class:`SupervisedTask`): after each epoch every callback (collaborator) gets
    ``on_epoch_end(state)`` with a :class:`~practical_dl.checkpoint.TrainingState` view of the run,
    e.g. a :class:`~practical_dl.checkpoint.Checkpointer` or a
    :class:`~practical_dl.tracking.EpochMetrics`. ``resume`` (a saved state of the same run)
    restores model, optimizer, scheduler, random generators, history and best epoch, and goes on
    after its epoch: the result is bit-identical to that of a run never interrupted, wall-clock
    times aside. Without callbacks and ``resume``, nothing of this costs anything.

    ``config.deterministic`` trains with deterministic kernels only (:func:`use_deterministic_kernels`).

    ``parallel`` is how the processes of a data-parallel run share the training
    (:mod:`practical_dl.distributed`); by default the one of the environment: under ``torchrun``
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
        _BatchPreparer(standardiser, device, memory_format, augment, adversary),
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
    :func:`practical_dl.loop.train_epochs`; keeps the best validation epoch's weights when
    ``config.select_best``."""

    def __init__(
        self, model, source, val_source, prepare, config: TrainConfig, device, precision, task: str, name: str, parallel=None
    ) -> None:
        self.model, self.source, self.val_source, self.prepare = model, source, val_source, prepare
        self.config, self.device, self.precision, self.task, self.name = config, device, precision, task, name
        self.parallel = parallel if parallel is not None else SingleProcess()
        self.metric = "accuracy" if task == "classification" else "mae"
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
            loss_sum, score, seen = _run_epoch(
                self.step_model,
                self.source,
                self.prepare,
                self.device,
                self.precision,
                perm,
                self.optimizer,
                self.scheduler,
                config.label_smoothing,
                bar,
                self.task,
                self.parallel,
                shard,
                self.model,
            )
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
                vloss, vscore, vseen = _run_epoch(
                    self.eval_model,
                    self.val_source,
                    self.prepare,
                    self.device,
                    self.precision,
                    task=self.task,
                    shard=self.parallel.epoch_shard(self.val_source.n, self.device),
                )
            vloss, vscore, vseen = self.parallel.total(vloss, vscore, vseen)
            row["val_loss"] = vloss / vseen
            row[f"val_{metric}"] = vscore / vseen
            if not math.isfinite(row["val_loss"]):
                reason = f"validation loss {row['val_loss']} at epoch {epoch}"
            goodness = row["val_accuracy"] if self.task == "classification" else -row["val_loss"]
            if config.select_best and not reason and goodness > self.best_score:
                self.best_score, self.best_epoch = goodness, epoch
                self.best_model = copy.deepcopy(self.model.state_dict())
        return row, reason

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
    prepare = _BatchPreparer(standardiser, device, memory_format)
    out = []
    with torch.inference_mode():
        for xb, _ in source.batches():
            with autocast_context(device, precision):
                out.append(model(prepare(xb, train=False)).float())
    return torch.cat(out).cpu()

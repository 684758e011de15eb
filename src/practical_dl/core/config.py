"""The training configuration: every setting that decides how a model is trained."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from practical_dl.core.distributed import BACKENDS
from practical_dl.core.params import settings_from_params

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
    augment: bool | dict = (
        False  # true: the shared `augmentation` block's transforms; a mapping: that block with these settings changed (read by the nodes)
    )
    standardise: bool = True  # x' = (x - mean) / std; off: only scaled to [0, 1] (read by the nodes)
    adversarial: dict[str, Any] | None = (
        None  # adversarial training, see practical_dl.methods.attacks.AdversarialTraining (read by the nodes)
    )
    checkpoint_every: int = 1  # save the training state every N epochs (0: never), see practical_dl.core.checkpoint (read by the nodes)
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

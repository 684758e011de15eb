"""The training configuration: every setting that decides how a model is trained, and how its
images are augmented. No torch here: Kedro checks these settings before a run imports it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictInt

from practical_dl.core.distributed import BACKENDS
from practical_dl.core.params import (
    Flag,
    Fraction,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    Settings,
    overrides_of,
)

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "onecycle")
PRECISIONS = ("auto", "fp32", "bf16")
MEMORY_FORMATS = ("auto", "contiguous", "channels_last")
DEVICES = ("auto", "cpu", "cuda", "mps")


def _device(value: str) -> str:
    if value not in DEVICES and not (value.startswith("cuda:") and value[5:].isdigit()):
        raise ValueError(f"must be one of {', '.join(DEVICES)} or cuda:N")
    return value


#: A torch device name as the parameters give it.
Device = Annotated[str, AfterValidator(_device)]


class TrainConfig(Settings):
    """Everything that decides how a model is trained (``parameters_training.yml``)."""

    epochs: PositiveInt = 10
    batch_size: PositiveInt = 128
    """Under torchrun: the global batch, split over the processes."""
    optimizer: Literal[OPTIMIZERS] = "sgd"
    lr: PositiveFloat = 0.05
    """Peak learning rate of the schedule."""
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    nesterov: Flag = True
    weight_decay: NonNegativeFloat = 5e-4
    """Not applied to biases."""
    schedule: Literal[SCHEDULES] = "onecycle"
    """Learning-rate schedule, stepped per batch."""
    warmup_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    """One-cycle: share of the steps spent warming up."""
    label_smoothing: Fraction = 0.0
    seed: StrictInt = 2022
    device: Device = "auto"
    """auto (CUDA, then MPS, then CPU) | cpu | cuda | cuda:N | mps."""
    precision: Literal[PRECISIONS] = "auto"
    """auto: bf16 on CUDA, fp32 on the CPU."""
    memory_format: Literal[MEMORY_FORMATS] = "auto"
    compile: Flag = False
    """torch.compile the model."""
    deterministic: Flag = False
    """CUDA: deterministic kernels only, bit-identical reruns (slower); the CPU is deterministic anyway."""
    resident_memory_limit_mb: NonNegativeFloat = 4096
    """Data sets up to this size live on the device; larger ones stream through a DataLoader."""
    num_workers: NonNegativeInt = 2
    """DataLoader workers (used only when the data set does not fit)."""
    eval_batch_size: PositiveInt = 1000
    select_best: Flag = True
    """Keep the weights of the best validation epoch."""
    max_loss: PositiveFloat = 100.0
    """A larger (or non-finite) training loss counts as divergence."""
    progress: Flag = True
    """A progress bar per epoch."""
    augment: Flag | dict[str, Any] = False
    """true: the shared ``augmentation`` block's transforms; a mapping: that block with these settings changed."""
    standardise: Flag = True
    """x' = (x - mean) / std with the training split's statistics; off: only scaled to [0, 1]."""
    adversarial: dict[str, Any] | None = None
    """Adversarial training (epsilon, fraction, attack, ...); null: none."""
    checkpoint_every: NonNegativeInt = 1
    """Save the whole training state every N epochs (0: never)."""
    checkpoint_seconds: NonNegativeFloat = 0.0
    """At least this many seconds between two checkpoints (0: no limit); the last epoch is always saved."""
    resume: Flag = True
    """Go on from a checkpoint made with the same settings (a finished one is not trained again)."""
    checkpoint_dir: str = "data/06_models/checkpoints"
    """One file per model: ``<checkpoint_dir>/<model>.safetensors``."""
    sync_batchnorm: Flag = False
    """Under torchrun: batch-norm statistics over the global batch (SyncBatchNorm; CUDA only)."""
    distributed_backend: Literal[BACKENDS] = "auto"
    """Under torchrun: auto (nccl on CUDA, gloo on CPU) | gloo | nccl."""


#: How augmented training images are drawn (:mod:`practical_dl.core.augment` draws them).
AUGMENT_MODES = ("on_the_fly", "materialise")


def _low_high(scale: tuple[float, float]) -> tuple[float, float]:
    if not 0 < scale[0] <= scale[1]:
        raise ValueError("must be [low, high] with 0 < low <= high")
    return scale


class AugmentConfig(Settings):
    """``parameters_augmentation.yml``: ranges of the random transforms."""

    rotation_degrees: Annotated[float, Field(ge=0, le=180)] = 10.0
    """Uniform in [-r, r] degrees."""
    translate: Fraction = 0.1
    """Up to this fraction of the image size, in x and in y."""
    scale: Annotated[tuple[float, float], AfterValidator(_low_high)] = (0.9, 1.1)
    """[low, high] zoom range."""
    reflect: Flag = False
    """Horizontal flips (off for digits: a mirrored 2, 3, 7 is not a digit)."""
    p: Probability = 1.0
    """Probability that a sample is transformed at all."""
    mode: Literal[AUGMENT_MODES] = "on_the_fly"
    """on_the_fly: new draws every epoch; materialise: a k-times enlarged set, drawn once."""
    materialise_factor: PositiveInt = 4
    """k: augmented copies per image in materialise mode."""
    seed: StrictInt = 0
    """For previews and for the materialised set."""
    preview_images: PositiveInt = 8
    preview_draws: PositiveInt = 6

    @property
    def is_identity(self) -> bool:
        return self.p == 0 or (self.rotation_degrees == 0 and self.translate == 0 and self.scale == (1.0, 1.0) and not self.reflect)


#: An ``augment:`` mapping in a ``training`` block: the ``augmentation`` block with some settings changed.
AugmentOverrides = overrides_of(AugmentConfig, "AugmentOverrides")

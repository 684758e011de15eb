"""The DCGAN's typed settings: how it is trained (``gan.training``) and the groups of its latent
vector arithmetic.

Importing this module imports no torch, so that Kedro can check these settings (and build the
``gan`` pipeline) without it; the training is :mod:`practical_dl.methods.gan.training`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StrictInt

from practical_dl.core.config import PRECISIONS, Device
from practical_dl.core.params import Flag, Fraction, NonNegativeFloat, NonNegativeInt, PositiveInt, Settings

GAN_SCHEDULES = ("constant", "linear")


def _not_a_flag(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a decay in [0, 1) (0: off)")
    return value


#: A decay per step in [0, 1); 0: off.
Decay = Annotated[float, BeforeValidator(_not_a_flag), Field(ge=0, lt=1, allow_inf_nan=False)]


class GANConfig(Settings):
    """Everything that decides how the DCGAN is trained (``parameters_gan.yml``: ``gan.training``)."""

    epochs: PositiveInt = 5
    batch_size: PositiveInt = 128
    lr: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = 2e-4
    """Adam's learning rate, both networks."""
    schedule: Literal[GAN_SCHEDULES] = "constant"
    """constant | linear: both learning rates fall linearly to zero over the run, per step."""
    beta1: Fraction = 0.5
    beta2: Fraction = 0.999
    latent_dim: PositiveInt = 100
    generator_features: PositiveInt = 32
    discriminator_features: PositiveInt = 32
    real_label: Annotated[float, Field(gt=0.5, le=1, allow_inf_nan=False)] = 1.0
    """< 1: one-sided label smoothing (Salimans et al. 2016)."""
    generator_average: Decay = 0.0
    """> 0: a moving average of the generator's weights with this decay per step is scored and kept; 0: the last weights."""
    seed: StrictInt = 2022
    device: Device = "auto"
    precision: Literal[PRECISIONS] = "auto"
    checkpoint_every: NonNegativeInt = 1
    """Save the training state every N epochs (0: never)."""
    checkpoint_seconds: NonNegativeFloat = 0.0
    """At least this many seconds between two checkpoints (0: no limit); the last epoch is always saved."""
    resume: Flag = True
    """Go on from a checkpoint made with the same settings."""
    checkpoint_dir: str = "data/06_models/checkpoints"
    """The checkpoint is ``<checkpoint_dir>/dcgan.safetensors``."""
    fixed_samples: PositiveInt = 64
    """The same latent vectors every epoch: the progress grid."""
    progress: Flag = True


class LatentGroup(Settings):
    """Generated samples of one digit (as the classifier sees it) in one stroke style: ``bold``
    (the most ink) or ``thin`` (the least)."""

    digit: NonNegativeInt
    """A class index of the classifier."""
    style: Literal["bold", "thin"]

    def __str__(self) -> str:
        return f"{self.style} {self.digit}"

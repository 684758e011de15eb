"""The typed settings of the adversarial patch: what ``parameters_patch.yml``'s ``patch.training`` holds.

Importing this module imports no torch, so that Kedro can check these settings before any node
runs (and building a pipeline stays cheap); the patch itself is in :mod:`~practical_dl.methods.patch`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt, field_validator

from practical_dl.core.params import NonNegativeInt, PositiveFloat, PositiveInt, Settings


class PatchTraining(Settings):
    """How a patch is optimised, whatever its size and target (``parameters_patch.yml``: ``patch.training``)."""

    steps: PositiveInt = 300
    batch_size: PositiveInt = 128
    step_size: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.05
    """The first signed step per pixel; it decays to 0 on a cosine."""
    rotation_degrees: Annotated[float, Field(ge=0, le=180, allow_inf_nan=False)] = 15.0
    """Training placements: rotated by up to this many degrees ..."""
    scale: tuple[PositiveFloat, PositiveFloat] = (0.8, 1.2)
    """... and scaled by a factor in this range [low, high]."""
    seed: StrictInt = 0

    @field_validator("scale")
    @classmethod
    def _low_then_high(cls, scale: tuple[float, float]) -> tuple[float, float]:
        if scale[0] > scale[1]:
            raise ValueError("must be [low, high] with 0 < low <= high")
        return scale


class PatchConfig(PatchTraining):
    """How a patch of one size asking for one class is optimised."""

    size: PositiveInt = 8
    """Side of the square, in pixels."""
    target: NonNegativeInt = 0
    """The class the patch asks for."""

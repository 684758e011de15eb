"""Data set augmentation on whole mini-batches on the training device.

The lecture: enlarge the training set by moving, scaling, rotating and reflecting existing
samples. kornia's augmentation modules draw fresh random parameters *per sample* on whole
batches of tensors (torchvision's v2 transforms draw one set per call), so every epoch sees
new variants at the cost of one ``grid_sample`` per batch.

Reflection is off by default: digits are not mirror-symmetric (a mirrored 2, 3, 4, 5, 7 or 9 is
not that digit, and 2/5 come close to swapping), so reflecting teaches the wrong thing.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import AfterValidator, Field, StrictInt
from torch import nn

from practical_dl.core.params import Flag, Fraction, PositiveInt, Probability, Settings, overrides_of

MODES = ("on_the_fly", "materialise")


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
    mode: Literal[MODES] = "on_the_fly"
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


def build_augmentation(config: AugmentConfig) -> nn.Module:
    """A module mapping float ``S x C x H x W`` batches in [0, 1] to augmented batches of the
    same shape (identity when the configuration changes nothing). Random draws come from
    torch's global generator: seed it for reproducible draws."""
    if config.is_identity:
        return nn.Identity()
    import kornia.augmentation as K  # here, not at the top: a third of a second of every `kedro run`'s start-up

    layers: list[nn.Module] = []
    if config.reflect:
        layers.append(K.RandomHorizontalFlip(p=0.5 * config.p))
    if config.rotation_degrees or config.translate or config.scale != (1.0, 1.0):
        layers.append(
            K.RandomAffine(
                degrees=config.rotation_degrees,
                translate=(config.translate, config.translate) if config.translate else None,
                scale=config.scale if config.scale != (1.0, 1.0) else None,
                p=config.p,
                padding_mode="zeros",  # background of a [0, 1] digit image
            )
        )
    return nn.Sequential(*layers)


def materialise(images: np.ndarray, labels: np.ndarray, config: AugmentConfig, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The originals plus ``materialise_factor`` augmented copies of each (uint8), drawn once."""
    augment = build_augmentation(config)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    copies = [images]
    try:
        for _ in range(config.materialise_factor):
            out = np.empty_like(images)
            for i in range(0, len(images), batch_size):
                x = torch.from_numpy(images[i : i + batch_size]).float() / 255.0
                out[i : i + batch_size] = (augment(x).clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
            copies.append(out)
    finally:
        torch.random.set_rng_state(generator_state)
    return np.concatenate(copies), np.tile(labels, config.materialise_factor + 1)


def preview(images: np.ndarray, config: AugmentConfig) -> np.ndarray:
    """``preview_images`` originals, each followed by ``preview_draws`` augmented draws (uint8),
    as an ``(images * (1 + draws)) x C x H x W`` array, row by row."""
    augment = build_augmentation(config)
    state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    try:
        x = torch.from_numpy(images[: config.preview_images]).float() / 255.0
        draws = [augment(x).clamp(0, 1) for _ in range(config.preview_draws)]
    finally:
        torch.random.set_rng_state(state)
    grid = torch.stack([x, *draws], dim=1).flatten(0, 1)
    return (grid * 255).round().to(torch.uint8).numpy()

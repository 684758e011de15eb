"""Data set augmentation on whole mini-batches on the training device.

The lecture: enlarge the training set by moving, scaling, rotating and reflecting existing
samples. kornia's augmentation modules draw fresh random parameters *per sample* on whole
batches of tensors (torchvision's v2 transforms draw one set per call), so every epoch sees
new variants at the cost of one ``grid_sample`` per batch.

Reflection is off by default: digits are not mirror-symmetric (a mirrored 2, 3, 4, 5, 7 or 9 is
not that digit, and 2/5 come close to swapping), so reflecting teaches the wrong thing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import kornia.augmentation as K
import numpy as np
import torch
from torch import nn

from practical_dl.core.params import settings_from_params

MODES = ("on_the_fly", "materialise")


@dataclass
class AugmentConfig:
    """``parameters_augmentation.yml``: ranges of the random transforms."""

    rotation_degrees: float = 10.0  # uniform in [-r, r]
    translate: float = 0.1  # fraction of the image size, in x and in y
    scale: tuple[float, float] = (0.9, 1.1)
    reflect: bool = False  # horizontal flips (off for digits)
    p: float = 1.0  # probability that a sample is transformed at all
    mode: str = "on_the_fly"  # on_the_fly: new draws every epoch; materialise: a k-times enlarged set, drawn once
    materialise_factor: int = 4  # k: augmented copies per image in materialise mode
    seed: int = 0  # for previews and for the materialised set
    preview_images: int = 8
    preview_draws: int = 6

    def __post_init__(self) -> None:
        self.scale = tuple(self.scale)
        self.validate()

    @classmethod
    def from_dict(cls, params: dict[str, Any] | None, where: str = "augmentation") -> AugmentConfig:
        """Build from a parameter block; errors name the parameter as ``where.key``."""
        return settings_from_params(cls, params, where)

    def validate(self) -> None:
        def bad(name: str, why: str) -> None:
            raise ValueError(f"{name} {why}, got {getattr(self, name)!r}")

        if not 0 <= self.rotation_degrees <= 180:
            bad("rotation_degrees", "must be in [0, 180]")
        if not 0 <= self.translate < 1:
            bad("translate", "must be a fraction in [0, 1)")
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1]:
            bad("scale", "must be [low, high] with 0 < low <= high")
        if not 0 <= self.p <= 1:
            bad("p", "must be a probability in [0, 1]")
        if self.mode not in MODES:
            bad("mode", f"must be one of {MODES}")
        if isinstance(self.materialise_factor, bool) or not isinstance(self.materialise_factor, int) or self.materialise_factor < 1:
            bad("materialise_factor", "must be an integer >= 1")
        for name in ("preview_images", "preview_draws"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                bad(name, "must be a positive integer")

    @property
    def is_identity(self) -> bool:
        return self.p == 0 or (self.rotation_degrees == 0 and self.translate == 0 and self.scale == (1.0, 1.0) and not self.reflect)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_augmentation(config: AugmentConfig) -> nn.Module:
    """A module mapping float ``S x C x H x W`` batches in [0, 1] to augmented batches of the
    same shape (identity when the configuration changes nothing). Random draws come from
    torch's global generator: seed it for reproducible draws."""
    if config.is_identity:
        return nn.Identity()
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

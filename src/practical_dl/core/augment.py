"""Data set augmentation on whole mini-batches on the training device.

The lecture: enlarge the training set by moving, scaling, rotating and reflecting existing
samples. kornia's augmentation modules draw fresh random parameters *per sample* on whole
batches of tensors (torchvision's v2 transforms draw one set per call), so every epoch sees
new variants at the cost of one ``grid_sample`` per batch.

Reflection is off by default: digits are not mirror-symmetric (a mirrored 2, 3, 4, 5, 7 or 9 is
not that digit, and 2/5 come close to swapping), so reflecting teaches the wrong thing.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from practical_dl.core.config import AugmentConfig


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

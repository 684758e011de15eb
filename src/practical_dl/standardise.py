"""Standardisation x' = (x - mu) / sigma, with its inverse.

One piece of code serves images (per channel, on S x C x H x W batches) and regression
targets (per column). Statistics are computed on the training split only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


def channel_statistics(images: np.ndarray, scale: float = 255.0) -> dict[str, list[float]]:
    """Mean and standard deviation per channel of an ``N x C x H x W`` array.

    Pixel values are divided by ``scale`` first (uint8 images -> [0, 1]). Computed in float64,
    one channel at a time, so a 60,000-image set needs no float copy of the whole array.
    """
    if images.ndim != 4:
        raise ValueError(f"expected N x C x H x W images, got shape {images.shape}")
    if images.shape[0] == 0:
        raise ValueError("cannot compute statistics of an empty set of images")
    means, stds = [], []
    for c in range(images.shape[1]):
        channel = images[:, c].astype(np.float64) / scale
        means.append(float(channel.mean()))
        stds.append(float(channel.std()))
    if any(s < 1e-8 for s in stds):
        raise ValueError(f"a channel has zero standard deviation (std={stds}); cannot standardise")
    return {"mean": means, "std": stds, "scale": scale}


@dataclass(frozen=True)
class Standardiser:
    """Applies ``(x / scale - mean) / std`` along ``dim`` (channels of a 4-D batch by default).

    ``inverse`` maps standardised values back to the original units.
    """

    mean: Sequence[float]
    std: Sequence[float]
    scale: float = 1.0
    dim: int = 1

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean has {len(self.mean)} entries, std has {len(self.std)}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive, got {list(self.std)}")

    @classmethod
    def from_stats(cls, stats: dict, dim: int = 1) -> Standardiser:
        """Build from the JSON written by the standardisation pipeline."""
        return cls(mean=tuple(stats["mean"]), std=tuple(stats["std"]), scale=float(stats.get("scale", 1.0)), dim=dim)

    @classmethod
    def identity(cls, channels: int = 1, scale: float = 255.0) -> Standardiser:
        """Only rescales (e.g. uint8 -> [0, 1]); used when standardisation is switched off."""
        return cls(mean=(0.0,) * channels, std=(1.0,) * channels, scale=scale)

    def _shape(self, x: torch.Tensor) -> list[int]:
        shape = [1] * x.dim()
        shape[self.dim] = len(self.mean)
        return shape

    def affine(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Multiplier and offset with ``forward(x) == x * a + b``, shaped to broadcast on ``x``."""
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device)
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device)
        shape = self._shape(x)
        return (1.0 / (self.scale * std)).view(shape), (-mean / std).view(shape)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.affine(x)
        return torch.addcmul(b, x.float(), a)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=torch.float32, device=y.device).view(self._shape(y))
        std = torch.tensor(self.std, dtype=torch.float32, device=y.device).view(self._shape(y))
        return (y.float() * std + mean) * self.scale

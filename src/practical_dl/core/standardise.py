"""Standardisation x' = (x - mu) / sigma, with its inverse: the project's only copy of it.

One piece of arithmetic (:func:`affine_terms`) serves images (per channel, on S x C x H x W
batches) and regression targets (per column): :class:`Standardiser` holds the statistics (computed
on the training split only) and applies them; :class:`Standardise` is the same as a module whose
statistics are buffers, so a saved model carries the standardisation it was trained with
(``practical_dl.models.classifier``). The training engine, the attacks, transfer learning's input
adapter and the exported model all standardise through them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


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
        a, b = affine_terms(mean, std, self.scale)
        shape = self._shape(x)
        return a.view(shape), b.view(shape)

    def module(self) -> Standardise:
        """The same standardisation as a module of per-channel buffers (images, ``dim=1``)."""
        return Standardise(self.mean, self.std, self.scale)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.affine(x)
        return torch.addcmul(b, x.float(), a)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=torch.float32, device=y.device).view(self._shape(y))
        std = torch.tensor(self.std, dtype=torch.float32, device=y.device).view(self._shape(y))
        return (y.float() * std + mean) * self.scale


def affine_terms(mean: torch.Tensor, std: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``a, b`` with ``(x / scale - mean) / std == x * a + b``: the arithmetic of every standardisation."""
    return 1.0 / (scale * std), -mean / std


class Standardise(nn.Module):
    """Per-channel standardisation of images as a module, its statistics kept as buffers.

    ``forward`` takes images in [0, 1] (pixels / ``scale``); :meth:`raw` takes pixel values as
    stored (0..255 for uint8). Both compute ``x * a + b`` with :func:`affine_terms`, exactly as
    :class:`Standardiser` does, so a model standardises the same whether it was handed a
    ``Standardiser`` in training or loaded with its buffers.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], scale: float = 255.0, persistent: bool = True) -> None:
        super().__init__()
        Standardiser(mean=tuple(mean), std=tuple(std), scale=scale)  # checks the values
        self.scale = float(scale)
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32), persistent=persistent)
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32), persistent=persistent)

    @property
    def standardiser(self) -> Standardiser:
        """The statistics as a :class:`Standardiser` (for the training engine)."""
        return Standardiser(mean=tuple(self.mean.tolist()), std=tuple(self.std.tolist()), scale=self.scale)

    def _terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = affine_terms(self.mean, self.std, self.scale)
        shape = [1] * x.dim()
        shape[1] = len(self.mean)
        return a.view(shape), b.view(shape)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel values as stored (e.g. uint8 0..255) -> standardised float32."""
        a, b = self._terms(x)
        return torch.addcmul(b, x.float(), a)

    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> standardised."""
        a, b = self._terms(x01)
        return torch.addcmul(b, x01 * self.scale, a)

    def extra_repr(self) -> str:
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}, scale={self.scale:g}"

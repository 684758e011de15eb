"""Walks in a generator's latent space: interpolation and arithmetic on latent vectors."""

from __future__ import annotations

from typing import Any

import torch

from practical_dl.methods.gan.scores import ClassifierProbe
from practical_dl.methods.gan.settings import LatentGroup
from practical_dl.models.gan import Generator


def interpolate(z_from: torch.Tensor, z_to: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` latent vectors on the straight line from ``z_from`` to ``z_to`` (both ends included)."""
    t = torch.linspace(0, 1, steps).view(-1, 1)
    return (1 - t) * z_from.view(1, -1) + t * z_to.view(1, -1)


def latent_arithmetic(
    generator: Generator,
    probe: ClassifierProbe,
    a: LatentGroup,
    b: LatentGroup,
    c: LatentGroup,
    samples: int = 4000,
    group_size: int = 8,
    noise: float = 0.25,
    seed: int = 0,
) -> dict[str, Any]:
    """DCGAN's vector arithmetic: mean(z of group a) - mean(z of b) + mean(z of c).

    Groups are picked among ``samples`` generated images: the ``4 x group_size`` most probable
    images of the group's digit, of which the ``group_size`` with the most (bold) or least (thin)
    ink. The result vector is decoded with ``group_size - 1`` variants (uniform noise of
    ``noise`` added, as in the paper). Returns the groups' and results' images (uint8), the
    classifier's predictions and each image's ink (mean intensity).
    """
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, generator.latent_dim, generator=rng)
    images = generator.decode(z)
    logits, _ = probe(images)
    probs = logits.softmax(1)
    ink = images.mean(dim=(1, 2, 3))
    groups = {}
    for key, group in (("a", a), ("b", b), ("c", c)):
        if group.digit >= probs.shape[1]:
            raise ValueError(f"digit {group.digit} of group {key} is not a class of the classifier ({probs.shape[1]} classes)")
        likely = torch.argsort(probs[:, group.digit], descending=True)[: 4 * group_size]
        by_ink = likely[torch.argsort(ink[likely], descending=group.style == "bold")][:group_size]
        groups[key] = by_ink
    result_z = z[groups["a"]].mean(0) - z[groups["b"]].mean(0) + z[groups["c"]].mean(0)
    variants = torch.cat([result_z.view(1, -1), result_z + noise * (2 * torch.rand(group_size - 1, z.shape[1], generator=rng) - 1)])
    result_images = generator.decode(variants)
    result_logits, _ = probe(result_images)

    def described(idx_images: torch.Tensor, idx_logits: torch.Tensor) -> dict[str, Any]:
        return {
            "images": (idx_images * 255).round().to(torch.uint8).numpy(),
            "predicted": idx_logits.argmax(1).numpy(),
            "ink": idx_images.mean(dim=(1, 2, 3)).numpy(),
        }

    out = {key: described(images[idx], logits[idx]) | {"name": str(group)} for (key, idx), group in zip(groups.items(), (a, b, c))}
    out["result"] = described(result_images, result_logits) | {"name": f"{a} − {b} + {c}"}
    return out

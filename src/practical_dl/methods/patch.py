"""A targeted adversarial patch (Brown et al. 2017), the digital cousin of the lecture's
physical-world attacks (stickers on stop signs, Eykholt et al. 2018; printed eyeglass frames,
Sharif et al. 2016): a small, visible square of pixels, not an invisible L∞ perturbation, that
makes a classifier answer one chosen class wherever it is put.

Plain PyTorch, usable without Kedro::

    from practical_dl.methods.patch import PatchConfig, train_patch, paste, random_positions
    patch = train_patch(classifier, train_images01, PatchConfig(size=8, target=3))   # 1 x C x 8 x 8 in [0, 1]
    where = random_positions(len(test_images01), 28, 8, torch.Generator().manual_seed(0))
    attacked = paste(test_images01, patch, where)

Training is an expectation over transformation (Athalye et al. 2018): at every step each image
of a batch of training digits gets the patch at a random position, slightly rotated and scaled,
and the patch's pixels take a signed gradient step (of a size decaying on a cosine) that raises
the target's log-probability averaged over all of them, then are clipped to [0, 1]: the patch is
always a valid image (what else was tried: docs/benchmarks.md).
On test digits it is pasted as it is: a square of ``size`` x ``size`` pixels at a random position,
replacing the digit's pixels there and nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from practical_dl.methods.patch_settings import PatchConfig

Forward = Callable[[torch.Tensor], torch.Tensor]


def random_positions(n: int, image_size: int, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` top-left corners (row, column) at which a ``size`` square fits inside the image."""
    if size > image_size:
        raise ValueError(f"a patch of {size} pixels does not fit in images of {image_size}")
    return torch.randint(0, image_size - size + 1, (n, 2), generator=generator)


def paste(images: torch.Tensor, patch: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """``images`` (N x C x H x W) with ``patch`` (1 x C x s x s) replacing the square whose top-left
    corner is ``positions[i]`` in image i; every other pixel unchanged."""
    n, _, height, width = images.shape
    size = patch.shape[-1]
    rows = positions[:, 0].view(n, 1, 1) + torch.arange(size).view(1, size, 1)
    cols = positions[:, 1].view(n, 1, 1) + torch.arange(size).view(1, 1, size)
    if rows.min() < 0 or cols.min() < 0 or rows.max() >= height or cols.max() >= width:
        raise ValueError(f"a {size}-pixel patch at those positions leaves the {height}x{width} images")
    out = images.clone()
    index = torch.arange(n).view(n, 1, 1)
    out.permute(0, 2, 3, 1)[index, rows, cols] = patch[0].permute(1, 2, 0).expand(n, size, size, -1).to(out.dtype)
    return out


def _placed(images: torch.Tensor, patch: torch.Tensor, generator: torch.Generator, config: PatchConfig) -> torch.Tensor:
    """``images`` with ``patch`` at a random position, rotation and scale each (differentiable in
    ``patch``): the patch and its mask are drawn on the image's grid by ``grid_sample``."""
    n, channels, height, width = images.shape
    size = patch.shape[-1]
    top, left = (height - size) // 2, (width - size) // 2
    # the patch and a mask of ones, in the middle of an empty image
    canvas_patch = F.pad(torch.cat([patch, torch.ones_like(patch[:, :1])], 1), (left, width - size - left, top, height - size - top))
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(config.rotation_degrees)
    low, high = config.scale
    scale = low + torch.rand(n, generator=generator) * (high - low)
    # where a scaled patch still fits: its half-side in normalised coordinates
    half = size * high / width
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * max(0.0, 1 - half - 1 / width)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # the inverse map (output -> canvas): rotate and scale about the centre, after the shift
    first = torch.stack([cos, -sin, -(cos * shift[:, 0] - sin * shift[:, 1])], 1)
    second = torch.stack([sin, cos, -(sin * shift[:, 0] + cos * shift[:, 1])], 1)
    theta = torch.stack([first, second], 1)
    grid = F.affine_grid(theta.to(images.device), [n, channels + 1, height, width], align_corners=False)
    drawn = F.grid_sample(canvas_patch.expand(n, -1, -1, -1), grid, align_corners=False)
    colour, mask = drawn[:, :channels], drawn[:, channels:]
    return images * (1 - mask) + colour * mask


def train_patch(
    forward: Forward, images: torch.Tensor, config: PatchConfig, progress: Callable[[int, float], None] | None = None
) -> torch.Tensor:
    """Optimise a ``config.size`` square patch (1 x C x s x s, in [0, 1]) that makes ``forward``
    (images in [0, 1] -> logits) answer ``config.target`` on ``images`` wherever it lands."""
    generator = torch.Generator().manual_seed(config.seed)
    patch = torch.rand(1, images.shape[1], config.size, config.size, generator=generator)
    target = torch.full((config.batch_size,), config.target, dtype=torch.long)
    for step in range(config.steps):
        pick = torch.randint(0, len(images), (config.batch_size,), generator=generator)
        with torch.enable_grad():
            patch.requires_grad_(True)
            loss = F.cross_entropy(forward(_placed(images[pick], patch, generator, config)).float(), target)
            (grad,) = torch.autograd.grad(loss, patch)
        size = config.step_size * 0.5 * (1 + math.cos(math.pi * step / config.steps))
        patch = (patch.detach() - size * grad.sign()).clamp_(0, 1)
        if progress is not None:
            progress(step, float(loss.detach()))
    return patch


@torch.no_grad()
def targeted_success(
    forward: Forward, images: torch.Tensor, labels: torch.Tensor, patch: torch.Tensor, target: int, seed: int = 0
) -> float:
    """The share of ``images`` not already of the ``target`` class that ``forward`` calls
    ``target`` once the patch is pasted at a random position in each."""
    keep = labels != target
    images = images[keep]
    where = random_positions(len(images), images.shape[-1], patch.shape[-1], torch.Generator().manual_seed(seed))
    predicted = forward(paste(images, patch, where)).argmax(1)
    return float((predicted == target).float().mean()) if len(images) else float("nan")

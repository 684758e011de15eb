"""Optimisers and per-step learning-rate schedules built from a training configuration."""

from __future__ import annotations

import torch
from torch import nn

from practical_dl.core.config import TrainConfig


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (with momentum) or Adam/AdamW over the trainable parameters.

    No weight decay on biases and normalisation weights. A parameter with an ``lr_factor``
    attribute (e.g. a pre-trained backbone being fine-tuned) trains at that fraction of the rate.
    """
    groups: dict[tuple[bool, float], list[torch.Tensor]] = {}
    for p in model.parameters():
        if p.requires_grad:
            groups.setdefault((p.ndim > 1, float(getattr(p, "lr_factor", 1.0))), []).append(p)
    param_groups = [
        {"params": ps, "weight_decay": config.weight_decay if decay else 0.0, "lr": config.lr * factor, "lr_factor": factor}
        for (decay, factor), ps in groups.items()
    ]
    if not param_groups:
        raise ValueError("the model has no trainable parameters")
    if config.optimizer == "sgd":
        return torch.optim.SGD(param_groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov and config.momentum > 0)
    if config.optimizer == "adam":
        return torch.optim.Adam(param_groups, lr=config.lr)
    return torch.optim.AdamW(param_groups, lr=config.lr)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    """A per-step learning-rate schedule (constant, cosine or one-cycle)."""
    total = config.epochs * steps_per_epoch
    if config.schedule == "onecycle" and total >= 4:
        # each phase needs two steps or more (torch divides by the length of each phase)
        pct_start = min(max(config.warmup_fraction, 2.5 / total), 1 - 2.5 / total)
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[config.lr * g["lr_factor"] for g in optimizer.param_groups],
            total_steps=total,
            pct_start=pct_start,
            cycle_momentum=config.optimizer == "sgd" and config.momentum > 0,
        )
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)

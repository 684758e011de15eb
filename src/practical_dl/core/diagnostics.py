"""What happens inside a network while it trains (plain PyTorch, usable without Kedro).

:class:`GradientNorms` is a collaborator of the training loop (:mod:`practical_dl.core.loop`): the
gradient norm of every chosen layer's weight for one fixed probe batch, before training and after
every epoch — how the lecture's vanishing gradients show in a deep plain network and not in its
batch-normalised twin::

    norms = GradientNorms(model, lambda m: m.convolutions, probe_images, probe_labels, standardiser)
    fit(model, train, val, standardiser, config, callbacks=[norms])
    norms.history   # [{"epoch": 0, "norms": [first layer, ..., last]}, {"epoch": 1, ...}, ...]

The norms are measured on a copy of the model (training mode, as in a training step), so the
training itself — weights, optimizer, batch-norm statistics, random numbers — is untouched.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from practical_dl.core.standardise import Standardiser


class GradientNorms:
    """Per-layer gradient norms on a fixed probe batch at epoch 0 (now) and after every epoch.

    The norms go into the training state's ``meta`` after every epoch, so a training resumed from
    a checkpoint has those of its earlier epochs too."""

    META_KEY = "gradient_norms"

    def __init__(
        self,
        model: nn.Module,
        layers: Callable[[nn.Module], list[nn.Module]],
        images: np.ndarray,
        labels: np.ndarray,
        standardiser: Standardiser,
    ) -> None:
        if not len(images) or len(images) != len(labels):
            raise ValueError(f"the probe batch needs as many labels as images, got {len(images)} images and {len(labels)} labels")
        self.model = model
        self.layers = layers
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.standardise = standardiser.module()
        self.history: list[dict] = [{"epoch": 0, "norms": self.measure()}]

    def measure(self) -> list[float]:
        """The gradient norm of each layer's weight for the probe batch's cross-entropy, input layer first."""
        probe = copy.deepcopy(self.model).train()
        device = next(probe.parameters()).device
        x = self.standardise.to(device).raw(self.images.to(device))
        with torch.enable_grad():
            loss = F.cross_entropy(probe(x).float(), self.labels.to(device))
            weights = [layer.weight for layer in self.layers(probe)]
            grads = torch.autograd.grad(loss, weights, allow_unused=True)
        return [float(g.norm()) if g is not None and torch.isfinite(g).all() else float("nan") for g in grads]

    def on_epoch_end(self, state) -> None:
        self.history.append({"epoch": state.epoch, "norms": self.measure()})
        state.meta[self.META_KEY] = json.dumps(self.history)  # saved with the checkpoint (put this before the checkpointer)

    def on_resume(self, state) -> None:
        """Take the norms measured before the checkpoint back from it."""
        if self.META_KEY in state.meta:
            self.history = json.loads(state.meta[self.META_KEY])

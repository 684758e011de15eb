"""Adversarial examples: FGSM and PGD (L-infinity) in pixel space, and adversarial training.

Plain PyTorch, usable without Kedro::

    from practical_dl.methods.attacks import fgsm, pgd
    from practical_dl.models.classifier import load_classifier
    attacked = load_classifier(path)      # takes images in [0, 1], standardises them itself
    x_adv = pgd(attacked, x, y, epsilon=0.1, steps=10, step_size=0.025)

Images are attacked in [0, 1] with the standardisation *inside* the attacked model (a
:class:`~practical_dl.models.classifier.DigitClassifier`), so that
epsilon means what it means in the literature (Goodfellow et al. 2015; Madry et al. 2018): no
pixel moves by more than epsilon, and every pixel stays a valid intensity.

Why hand-written rather than torchattacks or the Adversarial Robustness Toolbox: FGSM and PGD
are a dozen lines (the lecture's FGSM is three), the code must run inside the shared training
engine's batch loop (adversarial training) on whatever device and memory format it uses, and
torchattacks has had no release since 2023 while ART brings a framework of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, StrictInt
from torch import nn

from practical_dl.core.config import Device
from practical_dl.core.params import Flag, IncreasingList, PositiveInt, Settings

ATTACKS = ("fgsm", "pgd")

Forward = Callable[[torch.Tensor], torch.Tensor]


def _input_gradient_sign(forward: Forward, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """sign(d loss / d x) of the cross-entropy at ``x``; parameters' gradients are untouched."""
    with torch.enable_grad():  # also when called under torch.no_grad()
        x = x.detach().requires_grad_(True)
        loss = F.cross_entropy(forward(x).float(), y)
        (grad,) = torch.autograd.grad(loss, x)
    return grad.sign()


def fgsm(forward: Forward, x: torch.Tensor, y: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Fast gradient sign method: ``clip(x + epsilon * sign(grad_x loss), 0, 1)``."""
    if epsilon == 0:
        return x.detach().clone()
    return (x.detach() + epsilon * _input_gradient_sign(forward, x, y)).clamp_(0, 1)


def pgd(
    forward: Forward,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    steps: int,
    step_size: float,
    random_start: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient descent on the loss (ascent), L-infinity ball of radius ``epsilon``.

    Each step moves every pixel by ``step_size`` along the sign of the gradient, then projects
    back into the ball around ``x`` and into [0, 1]. One step of size ``epsilon`` from ``x``
    (no random start) is exactly FGSM.
    """
    x = x.detach()
    if epsilon == 0:
        return x.clone()
    low, high = (x - epsilon).clamp(min=0), (x + epsilon).clamp(max=1)
    x_adv = x.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, device=generator.device if generator is not None else x.device)
        x_adv = x_adv + (2 * noise.to(x.device, x.dtype) - 1) * epsilon
        x_adv = torch.max(torch.min(x_adv, high), low)
    for _ in range(steps):
        x_adv = x_adv + step_size * _input_gradient_sign(forward, x_adv, y)
        x_adv = torch.max(torch.min(x_adv, high), low)
    return x_adv


class AttackConfig(Settings):
    """One attack (``parameters_adversarial.yml``).

    ``steps`` and ``step_fraction`` are PGD's: each step moves pixels by ``step_fraction * epsilon``
    (Madry et al.'s rule of thumb is a total travel of 2.5 epsilon: steps x step_fraction = 2.5).
    """

    kind: Literal[ATTACKS] = "fgsm"
    steps: PositiveInt = 10
    step_fraction: Annotated[float, Field(gt=0, le=1)] = 0.25
    random_start: Flag = False

    def __call__(
        self, forward: Forward, x: torch.Tensor, y: torch.Tensor, epsilon: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if self.kind == "fgsm":
            return fgsm(forward, x, y, epsilon)
        return pgd(forward, x, y, epsilon, self.steps, self.step_fraction * epsilon, self.random_start, generator)


#: An L-infinity radius in pixel units: a number in [0, 1].
Epsilon = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class AdversarialTraining(Settings):
    """Adversarial examples mixed into training batches (Goodfellow et al. 2015).

    A ``fraction`` of every training batch (the batch is already in random order) is replaced by
    adversarial versions made against the model being trained. With FGSM, ``random_start`` and a
    step of 1.25 epsilon is the "fast adversarial training" of Wong et al. (2020), which avoids the
    catastrophic over-fitting of plain FGSM training.
    """

    epsilon: Annotated[float, Field(gt=0, le=1)] = 0.3
    """L-infinity radius in pixel units (images in [0, 1])."""
    fraction: Annotated[float, Field(gt=0, le=1)] = 0.5
    """Share of every training batch replaced by adversarial examples."""
    attack: Literal[ATTACKS] = "fgsm"
    steps: PositiveInt = 1
    step_fraction: Annotated[float, Field(gt=0, le=2)] = 1.25
    random_start: Flag = True

    def __call__(self, forward: Forward, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The batch ``x`` (in [0, 1]) with its first ``fraction`` replaced by adversarial examples."""
        k = max(1, round(self.fraction * x.shape[0]))
        step = self.step_fraction * self.epsilon
        # FGSM with a random start is PGD with one step: one code path for both
        adv = pgd(forward, x[:k], y[:k], self.epsilon, self.steps if self.attack == "pgd" else 1, step, self.random_start)
        return torch.cat([adv, x[k:].detach()]) if k < x.shape[0] else adv


def accuracy_under_attack(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attack: AttackConfig,
    epsilons: list[float],
    batch_size: int = 500,
    seed: int = 0,
) -> list[float]:
    """Accuracy of ``model`` (images in [0, 1] -> logits, e.g. a :class:`~practical_dl.models.classifier.DigitClassifier`, on the
    device of its parameters) on ``images`` attacked at each epsilon; epsilon 0 is clean accuracy."""
    device = next(model.parameters()).device
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    accuracies = []
    for epsilon in epsilons:
        correct = torch.zeros((), dtype=torch.long, device=device)
        for i in range(0, len(labels), batch_size):
            x = images[i : i + batch_size].to(device)
            y = labels[i : i + batch_size].to(device)
            x_adv = attack(model, x, y, epsilon, generator)
            with torch.no_grad():
                correct += (model(x_adv).argmax(1) == y).sum()
        accuracies.append(int(correct) / len(labels))
    return accuracies


class AttackExamples(Settings):
    """The grid of clean and adversarial digits in the report."""

    epsilons: list[Epsilon] = [0.1, 0.2, 0.3]
    per_class: PositiveInt = 1


class AdversarialParameters(Settings):
    """The ``adversarial`` block (``parameters_adversarial.yml``): who is attacked, how, and how hard."""

    models: list[str] | None = None
    """Models attacked; null: every model of ``trained_models``."""
    robust_models: list[str] = []
    """Models trained with adversarial examples, attacked beside the others."""
    baseline: str | None = None
    """What the robust models are compared with in the report."""
    epsilons: IncreasingList[Epsilon]
    """L-infinity radii in pixel units, increasing; 0 is clean accuracy."""
    attacks: Annotated[dict[str, AttackConfig], Field(min_length=1)]
    """Attacks by name."""
    test_images: Annotated[StrictInt, Field(ge=10)] | None = None
    """A seeded, stratified subset of the test split; null: all of it."""
    seed: StrictInt = 0
    batch_size: PositiveInt = 500
    device: Device = "auto"
    examples: AttackExamples = AttackExamples()

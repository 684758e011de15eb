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
are a dozen lines (the lecture's FGSM is three), and the code must run inside the shared training
engine's batch loop (adversarial training) on whatever device and memory format it uses. They are
checked against ART's (``tests/methods/test_attacks_library.py``), and AutoAttack's core from ART
measures robustness the literature's way (:mod:`practical_dl.methods.autoattack`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, StrictInt, model_validator
from torch import nn

from practical_dl.core.config import Device
from practical_dl.core.params import Flag, IncreasingList, PositiveInt, Settings
from practical_dl.methods.autoattack import AutoAttackConfig

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
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    return [share(unbroken_by(model, images, labels, attack, epsilon, batch_size, generator)) for epsilon in epsilons]


def share(unbroken: torch.Tensor) -> float:
    """The share of ``True`` among booleans (an accuracy), exact: a count over a count, not a float32 mean."""
    return int(unbroken.sum()) / len(unbroken)


def unbroken_by(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attack: AttackConfig,
    epsilon: float,
    batch_size: int = 500,
    generator: torch.Generator | None = None,
    judge: nn.Module | None = None,
) -> torch.Tensor:
    """Which of ``images`` (in [0, 1]) ``model`` still classifies correctly once ``attack`` has moved them by up to ``epsilon``
    (booleans, on the CPU); ``generator`` (on the model's device) draws the random starts. With a ``judge`` (on the same
    device), the images made against ``model`` are classified by ``judge`` instead: a black-box transfer attack on it."""
    device = next(model.parameters()).device
    model.eval()
    judge = model if judge is None else judge.eval()
    generator = generator if generator is not None else torch.Generator(device=device).manual_seed(0)
    correct = []
    for i in range(0, len(labels), batch_size):
        x = images[i : i + batch_size].to(device)
        y = labels[i : i + batch_size].to(device)
        x_adv = attack(model, x, y, epsilon, generator)
        with torch.no_grad():
            correct.append((judge(x_adv).argmax(1) == y).cpu())
    return torch.cat(correct)


class AttackExamples(Settings):
    """The grid of clean and adversarial digits in the report."""

    epsilons: list[Epsilon] = [0.1, 0.2, 0.3]
    per_class: PositiveInt = 1


class AutoAttackParameters(AutoAttackConfig):
    """``adversarial.autoattack``: AutoAttack's core (:mod:`practical_dl.methods.autoattack`) at one radius, after one of our attacks."""

    after: str | None = "pgd"
    """One of ``attacks``, run first at ``epsilon``: the images it breaks are not attacked again (they count as broken), so that a
    model without robustness costs seconds, not minutes. The figure is then the worst case over that attack and AutoAttack's."""


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
    autoattack: AutoAttackParameters | None = None
    """AutoAttack's core against every attacked model, on the same test images; null: not run."""

    @model_validator(mode="after")
    def _autoattack_after_a_named_attack(self) -> AdversarialParameters:
        after = self.autoattack.after if self.autoattack is not None else None
        if after is not None and after not in self.attacks:
            raise ValueError(f"autoattack.after: {after!r} is not one of the attacks ({', '.join(self.attacks)}); name one, or null")
        return self

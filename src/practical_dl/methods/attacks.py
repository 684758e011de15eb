"""Adversarial examples: FGSM and PGD (L-infinity) in pixel space, and the attacks of adversarial training
(their typed settings, which call them: :mod:`practical_dl.methods.attack_settings`).

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

import torch
import torch.nn.functional as F
from torch import nn

from practical_dl.methods.attack_settings import AttackConfig

#: A model or a function: images in [0, 1] -> logits.
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

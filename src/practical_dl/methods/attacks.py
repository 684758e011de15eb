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
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from practical_dl.core.params import check_known_keys, settings_from_params

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


@dataclass
class AttackConfig:
    """One attack (``parameters_adversarial.yml``).

    ``steps`` and ``step_fraction`` are PGD's: each step moves pixels by ``step_fraction * epsilon``
    (Madry et al.'s rule of thumb is a total travel of 2.5 epsilon: steps x step_fraction = 2.5).
    """

    kind: str = "fgsm"
    steps: int = 10
    step_fraction: float = 0.25
    random_start: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ATTACKS:
            raise ValueError(f"kind must be one of {ATTACKS}, got {self.kind!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if not isinstance(self.step_fraction, (int, float)) or not 0 < self.step_fraction <= 1:
            raise ValueError(f"step_fraction must be in (0, 1], got {self.step_fraction!r}")

    @classmethod
    def from_dict(cls, params: dict[str, Any] | None, where: str) -> AttackConfig:
        """Build from a parameter block; errors name the parameter as ``where.key``."""
        return settings_from_params(cls, params, where)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __call__(
        self, forward: Forward, x: torch.Tensor, y: torch.Tensor, epsilon: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if self.kind == "fgsm":
            return fgsm(forward, x, y, epsilon)
        return pgd(forward, x, y, epsilon, self.steps, self.step_fraction * epsilon, self.random_start, generator)


def check_epsilon(value: Any, where: str) -> float:
    """An L-infinity radius in pixel units: a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"parameter {where} must be a number in [0, 1] (pixel intensities), got {value!r}")
    return float(value)


@dataclass
class AdversarialTraining:
    """Adversarial examples mixed into training batches (Goodfellow et al. 2015).

    A ``fraction`` of every training batch (the batch is already in random order) is replaced by
    adversarial versions made against the model being trained. With FGSM, ``random_start`` and a
    step of 1.25 epsilon is the "fast adversarial training" of Wong et al. (2020), which avoids the
    catastrophic over-fitting of plain FGSM training.
    """

    epsilon: float = 0.3
    fraction: float = 0.5
    attack: str = "fgsm"
    steps: int = 1
    step_fraction: float = 1.25
    random_start: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.epsilon, bool) or not isinstance(self.epsilon, (int, float)) or not 0 < self.epsilon <= 1:
            raise ValueError(f"epsilon must be a number in (0, 1] (pixel intensities), got {self.epsilon!r}")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction!r}")
        if self.attack not in ATTACKS:
            raise ValueError(f"attack must be one of {ATTACKS}, got {self.attack!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if not 0 < self.step_fraction <= 2:
            raise ValueError(f"step_fraction must be in (0, 2], got {self.step_fraction!r}")

    @classmethod
    def from_dict(cls, params: dict[str, Any] | None, where: str) -> AdversarialTraining:
        """Build from a parameter block; errors name the parameter as ``where.key``."""
        return settings_from_params(cls, params, where)

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


ADVERSARIAL_KEYS = {"models", "robust_models", "baseline", "epsilons", "attacks", "test_images", "seed", "batch_size", "device", "examples"}


def check_adversarial_parameters(params: dict[str, Any]) -> dict[str, AttackConfig]:
    """Validate the ``adversarial`` block; return its attacks by name. Errors name the parameter."""
    check_known_keys(params, ADVERSARIAL_KEYS, "adversarial")
    epsilons = params.get("epsilons")
    if not isinstance(epsilons, list) or not epsilons:
        raise ValueError(f"parameter adversarial.epsilons must be a non-empty list, got {epsilons!r}")
    values = [check_epsilon(e, f"adversarial.epsilons[{i}]") for i, e in enumerate(epsilons)]
    if values != sorted(values):
        raise ValueError(f"parameter adversarial.epsilons must be in increasing order, got {epsilons}")
    for i, e in enumerate((params.get("examples") or {}).get("epsilons") or []):
        check_epsilon(e, f"adversarial.examples.epsilons[{i}]")
    attacks = params.get("attacks")
    if not isinstance(attacks, dict) or not attacks:
        raise ValueError(f"parameter adversarial.attacks must map attack names to settings, got {attacks!r}")
    limit = params.get("test_images")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 10):
        raise ValueError(f"parameter adversarial.test_images must be an integer >= 10 or null (the whole test split), got {limit!r}")
    batch = params.get("batch_size", 500)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"parameter adversarial.batch_size must be a positive integer, got {batch!r}")
    return {name: AttackConfig.from_dict(spec, f"adversarial.attacks.{name}") for name, spec in attacks.items()}

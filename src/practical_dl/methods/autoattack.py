"""Robustness measured by attacks from outside the project: AutoAttack's core, and a check of our FGSM and PGD.

Plain PyTorch and the Adversarial Robustness Toolbox (ART), usable without Kedro::

    from practical_dl.methods.autoattack import autoattack_accuracy
    result = autoattack_accuracy(classifier, x, y, epsilon=0.3, seed=0)   # x in [0, 1], N x 1 x 28 x 28
    print(result.clean_accuracy, result.robust_accuracy, result.accuracy_of("Square"))

The yardstick for L∞ robustness on MNIST is AutoAttack (Croce & Hein 2020) at ε = 0.3. Its own
package (fra31/auto-attack) is not on PyPI, so its core is run from ART 1.20: **APGD-CE**
(``AutoProjectedGradientDescent``, cross-entropy, untargeted), **APGD-T** (the same attack
targeted, with ART's difference-of-logits-ratio loss, against each of the ``target_classes``
classes the clean image scores highest after its own) and the gradient-free **Square** attack
(``SquareAttack``, margin loss), each with the standard version's budget: 100 iterations and one
random start per APGD run, a first step of 2ε, 5,000 queries and p_init 0.8 for Square. Where
it differs from the standard version, it can only be weaker: FAB-T, the standard version's fourth
attack, is not in ART; ART's targeted loss is (z_t - max_{j≠t} z_j) / (z_π1 - z_π3) where
AutoAttack's is (z_t - z_y) / (z_π1 - (z_π3 + z_π4) / 2); and ART's APGD keeps an image's
last iterate where AutoAttack keeps any that fooled the model. ART's own ``AutoAttack``
class is not the standard version (by default APGD-CE and untargeted APGD-DLR with five random
starts each and a fixed first step of 0.1, DeepFool, and Square with five restarts), so it is not used.

As in AutoAttack, each attack runs on the images the attacks before it left correctly classified,
and an image counts as robust only if no attack breaks it (the worst case per image); with
``alone=True`` each attack runs on every correctly classified image instead, so that its accuracy
is its own (a diagnostic: Square alone far below APGD would mean masked gradients), at more cost. The model
takes images in [0, 1] and standardises them itself (a
:class:`~practical_dl.models.classifier.DigitClassifier`), so ε is in pixel units.

Why ART (1.20.1, 2025): it installs beside the project's pins, adding only itself, and has FGSM,
PGD, APGD and Square. torchattacks 3.5.1 (its last release, 2023) requires ``requests~=2.25.1`` and
would take the requests, urllib3 and idna that MLflow uses back to 2020's releases; foolbox 3.3
has neither APGD nor Square.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from practical_dl.methods.attack_settings import AUTOATTACK, AutoAttackConfig

if TYPE_CHECKING:  # ART is imported where it is used: importing it takes seconds, which building a pipeline should not pay
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

logger = logging.getLogger(__name__)

#: Slack of the ε-ball check on the adversarial images (float32 rounding of x ± ε).
_BALL_SLACK = 1e-5


@dataclass(frozen=True)
class AttackAccuracy:
    """The accuracy left after one attack (alone, or after the attacks before it too), and the seconds it took."""

    attack: str
    accuracy: float
    seconds: float


@dataclass(frozen=True)
class AutoAttackResult:
    """Clean and robust accuracy (fractions of ``n`` images) under AutoAttack's core at L∞ radius ``epsilon``."""

    epsilon: float
    n: int
    clean_accuracy: float
    robust_accuracy: float
    """Images no attack breaks: AutoAttack's figure."""
    attacks: tuple[AttackAccuracy, ...]
    seconds: float

    def accuracy_of(self, attack: str) -> float:
        """The accuracy left after ``attack`` (one of :data:`~practical_dl.methods.attack_settings.AUTOATTACK`)."""
        for a in self.attacks:
            if a.attack == attack:
                return a.accuracy
        raise KeyError(f"no attack {attack!r}; ran {[a.attack for a in self.attacks]}")


def art_classifier(model: nn.Module, input_shape: tuple[int, ...], nb_classes: int) -> PyTorchClassifier:
    """``model`` (images in [0, 1] -> logits, on the device of its parameters) as ART's estimator, cross-entropy loss."""
    from art.estimators.classification import PyTorchClassifier

    device = next(model.parameters()).device
    return PyTorchClassifier(
        model=model.eval(),
        loss=nn.CrossEntropyLoss(),
        input_shape=tuple(input_shape),
        nb_classes=nb_classes,
        clip_values=(0.0, 1.0),
        device_type="gpu" if device.type == "cuda" else "cpu",
    )


def _as_arrays(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[PyTorchClassifier, np.ndarray, np.ndarray]:
    """ART's estimator of ``model``, and the images and labels as NumPy arrays (checked)."""
    if next(model.parameters()).dtype != torch.float32:
        raise ValueError(f"the attacks run in fp32; the model's parameters are {next(model.parameters()).dtype}")
    x = images.detach().to("cpu", torch.float32).numpy()
    y = labels.detach().to("cpu", torch.int64).numpy()
    if x.ndim != 4 or len(x) != len(y) or not len(y):
        raise ValueError(f"images must be N x C x H x W for N labels, got {tuple(x.shape)} for {tuple(y.shape)}")
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"images must lie in [0, 1], got [{x.min():g}, {x.max():g}]")
    with torch.no_grad():
        nb_classes = int(model.eval()(images[:1].to(next(model.parameters()).device, torch.float32)).shape[1])
    return art_classifier(model, x.shape[1:], nb_classes), x, y


def art_fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilon: float, batch_size: int = 500) -> torch.Tensor:
    """ART's FGSM (``FastGradientMethod``, L∞, untargeted, no random start) on ``images`` in [0, 1]."""
    from art.attacks.evasion import FastGradientMethod

    with _seeded(0):  # no random start; the seed only keeps the global generators as they were
        estimator, x, y = _as_arrays(model, images, labels)
        return torch.from_numpy(FastGradientMethod(estimator, norm=np.inf, eps=epsilon, batch_size=batch_size).generate(x, y))


def art_pgd(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilon: float, steps: int, step_size: float, batch_size: int = 500
) -> torch.Tensor:
    """ART's PGD (``ProjectedGradientDescentPyTorch``, L∞, untargeted) from the clean image, ``steps`` signed steps of ``step_size``."""
    from art.attacks.evasion import ProjectedGradientDescentPyTorch

    with _seeded(0):  # no random start; the seed only keeps the global generators as they were
        estimator, x, y = _as_arrays(model, images, labels)
        attack = ProjectedGradientDescentPyTorch(
            estimator, norm=np.inf, eps=epsilon, eps_step=step_size, max_iter=steps, num_random_init=0, batch_size=batch_size, verbose=False
        )
        return torch.from_numpy(attack.generate(x, y))


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """NumPy's and PyTorch's global generators seeded, then restored: ART draws its random starts and squares from
    NumPy's, and its ``predict`` draws from PyTorch's (a DataLoader's base seed)."""
    state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


class _Core:
    """AutoAttack's attacks against ``estimator`` on ``x`` (N x C x H x W in [0, 1]) with labels ``y``; each
    ``attack(robust)`` clears the entries of the boolean mask ``robust`` whose images it breaks."""

    def __init__(self, estimator: PyTorchClassifier, x: np.ndarray, y: np.ndarray, config: AutoAttackConfig) -> None:
        self.estimator, self.x, self.y, self.config = estimator, x, y, config
        self.logits = estimator.predict(x, batch_size=config.batch_size)

    def still_correct(self, at: np.ndarray, adversarial: np.ndarray) -> np.ndarray:
        """Which of the images ``at`` (indices) the model still classifies correctly as ``adversarial``."""
        epsilon = self.config.epsilon
        drift = float(np.abs(adversarial - self.x[at]).max())
        if not np.isfinite(adversarial).all() or drift > epsilon + _BALL_SLACK or adversarial.min() < 0 or adversarial.max() > 1:
            raise RuntimeError(f"an attack left the ε-ball or [0, 1] (moved a pixel by {drift:g}, ε = {epsilon:g}) or made NaNs")
        return self.estimator.predict(adversarial, batch_size=self.config.batch_size).argmax(1) == self.y[at]

    def _apgd(self, loss_type: str, targeted: bool) -> AutoProjectedGradientDescent:
        from art.attacks.evasion import AutoProjectedGradientDescent

        c = self.config
        return AutoProjectedGradientDescent(
            self.estimator,
            norm=np.inf,
            eps=c.epsilon,
            eps_step=2 * c.epsilon,
            max_iter=c.apgd_steps,
            targeted=targeted,
            nb_random_init=1,
            batch_size=c.batch_size,
            loss_type=loss_type,
            verbose=False,
        )

    def apgd_ce(self, robust: np.ndarray) -> None:
        at = np.flatnonzero(robust)
        robust[at] = self.still_correct(at, self._apgd("cross_entropy", targeted=False).generate(self.x[at], self.y[at]))

    def apgd_t(self, robust: np.ndarray) -> None:
        attack = self._apgd("difference_logits_ratio", targeted=True)
        ranked = np.argsort(-self.logits, axis=1, kind="stable")  # a correctly classified image's own class first
        targets = min(self.config.target_classes, ranked.shape[1] - 1)
        for k in range(1, targets + 1):
            at = np.flatnonzero(robust)
            if not len(at):
                break
            robust[at] = self.still_correct(at, attack.generate(self.x[at], ranked[at, k]))
            logger.info("APGD-T, target %d of %d: %.1f%% of %d images left", k, targets, 100 * robust.mean(), len(robust))

    def square(self, robust: np.ndarray) -> None:
        from art.attacks.evasion import SquareAttack

        c, at = self.config, np.flatnonzero(robust)
        attack = SquareAttack(
            self.estimator,
            norm=np.inf,
            max_iter=c.square_queries,
            eps=c.epsilon,
            p_init=0.8,
            nb_restarts=1,
            batch_size=c.batch_size,
            verbose=False,
        )
        robust[at] = self.still_correct(at, attack.generate(self.x[at], self.y[at]))


def autoattack_accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    epsilon: float = 0.3,
    *,
    apgd_steps: int = 100,
    target_classes: int = 9,
    square_queries: int = 5000,
    batch_size: int = 500,
    seed: int = 0,
    alone: bool = False,
    unbroken: torch.Tensor | None = None,
) -> AutoAttackResult:
    """Accuracy of ``model`` (images in [0, 1] -> logits, fp32, on the device of its parameters) on
    ``images`` under APGD-CE, APGD-T and Square at L∞ radius ``epsilon`` (see the module's docstring).

    ``unbroken`` (N booleans): which images an earlier, cheaper attack left correctly classified; the
    others count as broken and are not attacked again (the robust accuracy is then the worst case over
    that attack too). None: every correctly classified image is attacked.
    """
    config = AutoAttackConfig(
        epsilon=epsilon,
        apgd_steps=apgd_steps,
        target_classes=target_classes,
        square_queries=square_queries,
        batch_size=batch_size,
        seed=seed,
        alone=alone,
    )
    start = time.perf_counter()
    with _seeded(seed):
        core = _Core(*_as_arrays(model, images, labels), config)
        correct = core.logits.argmax(1) == core.y
        results, robust_to_all = [], correct.copy()
        if unbroken is not None:
            if unbroken.shape != (len(core.y),):
                raise ValueError(f"unbroken must hold one boolean per image ({len(core.y)}), got shape {tuple(unbroken.shape)}")
            robust_to_all &= unbroken.detach().to("cpu", torch.bool).numpy()
        for name, attack in zip(AUTOATTACK, (core.apgd_ce, core.apgd_t, core.square)):
            began, robust = time.perf_counter(), (correct if alone else robust_to_all).copy()
            if robust.any():
                attack(robust)
            robust_to_all &= robust
            results.append(AttackAccuracy(name, float(robust.mean()), time.perf_counter() - began))
            logger.info(
                "%s at ε=%g: %.1f%% of %d images left (%.0f s)", name, epsilon, 100 * robust.mean(), len(robust), results[-1].seconds
            )
    return AutoAttackResult(
        epsilon=float(epsilon),
        n=len(core.y),
        clean_accuracy=float(correct.mean()),
        robust_accuracy=float(robust_to_all.mean()),
        attacks=tuple(results),
        seconds=time.perf_counter() - start,
    )

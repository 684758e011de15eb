"""The typed settings of the attacks, of adversarial training and of AutoAttack's core: what
``parameters_adversarial.yml`` and a ``training.adversarial`` block hold; and the published
AutoAttack figures they are weighed against.

Importing this module imports no torch, so that Kedro can check these settings before any node
runs (and building a pipeline stays cheap); calling a setting runs its attack
(:mod:`~practical_dl.methods.attacks`, :mod:`~practical_dl.methods.autoattack`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, StrictInt, model_validator

from practical_dl.core.config import Device
from practical_dl.core.params import Flag, IncreasingList, PositiveInt, Settings

if TYPE_CHECKING:
    import torch
    from torch import nn

    from practical_dl.methods.attacks import Forward
    from practical_dl.methods.autoattack import AutoAttackResult

ATTACKS = ("fgsm", "pgd")

#: AutoAttack's attacks run here, in AutoAttack's order.
AUTOATTACK = ("APGD-CE", "APGD-T", "Square")

#: The radius of the published MNIST figures
PUBLISHED_EPSILON = 0.3
#: Accuracy (%) under AutoAttack at L∞ ε = 0.3 on MNIST's test split, from the MNIST table of the AutoAttack README (fra31/auto-attack)
PUBLISHED_MNIST = {
    "Madry et al. 2018 (PGD training)": 88.43,
    "Zhang et al. 2019 (TRADES)": 92.76,
    "Wong et al. 2020 (fast FGSM training)": 82.88,
}


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
        from practical_dl.methods.attacks import fgsm, pgd

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
        import torch

        from practical_dl.methods.attacks import pgd

        k = max(1, round(self.fraction * x.shape[0]))
        step = self.step_fraction * self.epsilon
        # FGSM with a random start is PGD with one step: one code path for both
        adv = pgd(forward, x[:k], y[:k], self.epsilon, self.steps if self.attack == "pgd" else 1, step, self.random_start)
        return torch.cat([adv, x[k:].detach()]) if k < x.shape[0] else adv


class AutoAttackConfig(Settings):
    """AutoAttack's core at one radius; the defaults are the standard version's budgets."""

    epsilon: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.3
    """L∞ radius in pixel units (images in [0, 1])."""
    apgd_steps: PositiveInt = 100
    """Iterations of every APGD run."""
    target_classes: Annotated[StrictInt, Field(ge=1)] = 9
    """APGD-T's targets: the classes the clean image scores highest after its own."""
    square_queries: PositiveInt = 5000
    """Square's iterations (one query of the model each)."""
    batch_size: PositiveInt = 500
    seed: StrictInt = 0
    alone: Flag = False
    """Each attack on every correctly classified image (its own accuracy) rather than on those the ones before it left."""

    def __call__(
        self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, unbroken: torch.Tensor | None = None
    ) -> AutoAttackResult:
        """:func:`~practical_dl.methods.autoattack.autoattack_accuracy` with these settings."""
        from practical_dl.methods.autoattack import autoattack_accuracy

        return autoattack_accuracy(model, images, labels, unbroken=unbroken, **self.model_dump(include=set(AutoAttackConfig.model_fields)))


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

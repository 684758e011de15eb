"""Nodes of the ``adversarial`` pipeline (thin: the attacks are in ``practical_dl.methods.attacks``)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, model_validator

from practical_dl.core.params import deep_merge
from practical_dl.core.runtime import resolve_device
from practical_dl.core.splits import first_per_class, stratified_subset
from practical_dl.methods.attacks import AdversarialParameters, AttackConfig, accuracy_under_attack
from practical_dl.models.classifier import DigitClassifier
from practical_dl.pipelines.adversarial.figures import accuracy_under_attack_figure
from practical_dl.project.figures import adversarial_examples_figure
from practical_dl.project.parameters import TrainingOverrides, TrainingSettings, training_settings
from practical_dl.project.reporting import Claim, Report, metric_history

logger = logging.getLogger(__name__)


class AttackResult(BaseModel):
    """One classifier's accuracy under every attack at every epsilon, as the report reads it (saved as JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    """The namespace of the attacked classifier (``simplenet``)."""
    label: str
    """How reports name it (``SimpLeNet``)."""
    test_images: int
    """The attacked test digits: a seeded, stratified subset of the test split."""
    epsilons: list[float]
    """L∞ radii in pixel units, increasing; 0 is the clean accuracy."""
    accuracy: dict[str, list[float]]
    """Per attack, the accuracy (a share, 0 to 1) at each epsilon."""
    attacks: dict[str, AttackConfig]
    """The attacks by name, as ``adversarial.attacks`` sets them."""
    seconds: dict[str, float]
    """Per attack, the seconds it took at every epsilon together."""
    adversarial_training: dict[str, Any] | None
    """The model's adversarial training as its parameters set it (None: trained on clean digits only)."""

    @model_validator(mode="after")
    def _an_accuracy_per_epsilon(self) -> AttackResult:
        for attack, accs in self.accuracy.items():
            if len(accs) != len(self.epsilons):
                raise ValueError(f"accuracy under {attack}: {len(accs)} values for {len(self.epsilons)} epsilons")
        return self


def attack_model(
    classifier: DigitClassifier,
    test_split: dict[str, np.ndarray],
    training: TrainingOverrides,
    training_defaults: TrainingSettings,
    adversarial: AdversarialParameters,
    *,
    model: str,
) -> tuple[AttackResult, Figure]:
    """Accuracy of one trained classifier under every attack at every epsilon, and a grid of its adversarial digits.

    ``model`` is the namespace; the grid shows clean and adversarial test digits with the model's predictions.
    """
    attacks = adversarial.attacks
    seed = adversarial.seed
    split = stratified_subset(test_split, adversarial.test_images, seed=seed)
    images, labels = split["images"], split["labels"].astype(np.int64)
    label = classifier.label
    device = resolve_device(adversarial.device)
    attacked = classifier.to(device).eval()  # takes images in [0, 1], standardises them itself
    x = torch.from_numpy(images).float() / classifier.standardise.scale
    y = torch.from_numpy(labels)
    epsilons = list(adversarial.epsilons)
    accuracy, seconds = {}, {}
    for name, attack in attacks.items():
        start = time.perf_counter()
        accuracy[name] = accuracy_under_attack(attacked, x, y, attack, epsilons, adversarial.batch_size, seed)
        seconds[name] = time.perf_counter() - start
        logger.info(
            "%s under %s: %s (%.1fs)",
            label,
            name,
            ", ".join(f"ε={e:g}: {100 * a:.1f}%" for e, a in zip(epsilons, accuracy[name])),
            seconds[name],
        )
    figure = _examples_figure(attacked, x, y, labels, adversarial, label, device)
    result = AttackResult(
        model=model,
        label=label,
        test_images=len(labels),
        epsilons=epsilons,
        accuracy=accuracy,
        attacks=dict(attacks),
        seconds=seconds,
        adversarial_training=_adversarial_training(training_defaults, training, model),
    )
    return result, figure


def _adversarial_training(defaults: TrainingSettings, training: TrainingOverrides, model: str) -> dict[str, Any] | None:
    """The model's adversarial training as its parameters set it (None: none)."""
    if training_settings(defaults, training, where=f"{model}.training").adversarial is None:
        return None
    as_set = deep_merge(defaults.model_dump(exclude_unset=True, by_alias=True), training.model_dump(exclude_unset=True, by_alias=True))
    return as_set.get("adversarial")


def _examples_figure(
    attacked: DigitClassifier,
    x: torch.Tensor,
    y: torch.Tensor,
    labels: np.ndarray,
    adversarial: AdversarialParameters,
    label: str,
    device: torch.device,
) -> Figure:
    """A grid of clean test digits and their adversarial versions (every attack, the examples' epsilons), with the predictions."""
    examples, seed = adversarial.examples, adversarial.seed
    picked = first_per_class(labels, examples.per_class)
    rows = [("clean", x[picked])]
    for name, attack in adversarial.attacks.items():
        for eps in examples.epsilons:
            generator = torch.Generator(device=device).manual_seed(seed)
            rows.append((f"{name} ε={eps:g}", attack(attacked, x[picked].to(device), y[picked].to(device), float(eps), generator).cpu()))
    with torch.no_grad():
        predictions = [attacked(r.to(device)).argmax(1).cpu().numpy() for _, r in rows]
    return adversarial_examples_figure(
        [(name, (r.numpy() * 255).round().astype(np.uint8), p) for (name, r), p in zip(rows, predictions)],
        labels[picked],
        f"{label}: clean and adversarial test digits with the model's predictions (red: wrong)",
    )


def report_attacks(adversarial: AdversarialParameters, *results: AttackResult) -> dict[str, Any]:
    """The table, the picture, the MLflow metric histories and the report of every model under every attack.

    The table has one row per model and attack, one column per epsilon; the histories' step is 100 epsilon; the
    report's claims check the expected behaviour (:func:`attack_claims`).
    """
    rows = []
    metrics: dict[str, list[dict[str, float]]] = {}
    for r in results:
        for attack, accs in r.accuracy.items():
            rows.append({"model": r.label, "attack": attack} | {f"ε={e:g}": round(100 * a, 1) for e, a in zip(r.epsilons, accs)})
            metrics[f"{r.model}.{attack}_accuracy"] = metric_history((round(100 * e), a) for e, a in zip(r.epsilons, accs))
    table = pd.DataFrame(rows)
    n = results[0].test_images if results else 0
    report = Report(
        "Accuracy under attack (%)",
        about=(
            f"L∞ attacks in pixel space [0, 1] on {n} test images (a seeded, stratified subset of the test split); "
            "ε = 0 is the clean accuracy."
        ),
        claims=attack_claims(adversarial, results),
        tables={"Accuracy (%) of every model under every attack": table},
        claims_heading="What the runs show",
        tables_first=True,
    )
    return {
        "table": table,
        "markdown": report,
        "plot": accuracy_under_attack_figure(results),
        "metrics": metrics,
    }


def attacked_models(adversarial: AdversarialParameters, trained_models: list[str]) -> list[str]:
    """``adversarial.models`` (default: every trained model), then the robust models."""
    models = adversarial.models or list(trained_models)
    return list(dict.fromkeys([*models, *adversarial.robust_models]))


def attack_claims(adversarial: AdversarialParameters, results: tuple[AttackResult, ...]) -> list[Claim]:
    """The expected behaviour, each point held or contradicted by the measured numbers."""
    claims = []
    for r in results:
        eps = r.epsilons
        fg, pg = r.accuracy.get("fgsm"), r.accuracy.get("pgd")
        if fg is not None:
            falling = all(b <= a for a, b in zip(fg, fg[1:]))
            rates = ", ".join(f"{100 * a:.1f}% at ε={e:g}" for e, a in zip(eps, fg))
            claims.append(Claim.check(f"{r.label}: FGSM accuracy falls as ε grows", falling, rates))
        if fg is not None and pg is not None:
            stronger = all(p <= f for p, f in zip(pg, fg))
            claims.append(Claim.check(f"{r.label}: PGD is at least as strong as FGSM at every ε", stronger))
    base = next((r for r in results if r.model == adversarial.baseline), None)
    for r in results:
        if not r.adversarial_training or base is None:
            continue
        claims += [_robustness_claim(r, base, attack) for attack in r.accuracy if attack in base.accuracy]
    return claims


def _robustness_claim(robust: AttackResult, base: AttackResult, attack: str) -> Claim:
    """Adversarial training makes ``robust`` more robust to ``attack`` than ``base`` (at ε 0.1, 0.2 and the largest)."""
    epsilons = robust.epsilons
    pairs = [
        (e, a, b) for e, a, b in zip(epsilons, robust.accuracy[attack], base.accuracy[attack]) if e in (0.1, 0.2) or e == max(epsilons)
    ]
    evidence = (
        ", ".join(f"ε={e:g}: {100 * a:.1f}% vs {100 * b:.1f}%" for e, a, b in pairs)
        + f"; clean accuracy {100 * robust.accuracy[attack][0]:.1f}% vs {100 * base.accuracy[attack][0]:.1f}%"
        + " (on this subset; the full test split is in its test_metrics.json)"
    )
    return Claim.check(
        f"Adversarial training makes {robust.label} more robust to {attack} than {base.label}",
        all(a > b for e, a, b in pairs if e > 0),
        evidence,
    )

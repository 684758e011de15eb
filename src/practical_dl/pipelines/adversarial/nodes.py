"""Nodes of the ``adversarial`` pipeline (thin: the attacks are in ``practical_dl.methods.attacks``, AutoAttack's core in
``practical_dl.methods.autoattack``)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, model_validator

from practical_dl.core.lazy import on_first_use
from practical_dl.core.params import deep_merge
from practical_dl.core.splits import first_per_class, stratified_subset
from practical_dl.methods.attack_settings import (
    AUTOATTACK,
    PUBLISHED_EPSILON,
    PUBLISHED_MNIST,
    AdversarialParameters,
    AttackConfig,
    AutoAttackParameters,
)
from practical_dl.pipelines.adversarial.figures import accuracy_under_attack_figure
from practical_dl.project.figures import adversarial_examples_figure
from practical_dl.project.parameters import TrainingOverrides, TrainingSettings, training_settings
from practical_dl.project.reporting import Claim, Report, metric_history

# imported when Kedro resolves the nodes' annotations before a run, or a node uses them: not when the pipeline is built
torch = on_first_use("torch")
classifier_module = on_first_use("practical_dl.models.classifier")

#: Square (gradient-free) may break at most this share of the images the gradient attacks left before a robust model's figure is
#: suspected of masked gradients (Croce & Hein 2020; Athalye et al. 2018)
SQUARE_TOLERANCE = 0.01

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
    classifier: classifier_module.DigitClassifier,
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
    from practical_dl.core.runtime import resolve_device
    from practical_dl.methods.attacks import accuracy_under_attack

    attacks = adversarial.attacks
    seed = adversarial.seed
    labels, x, y = attacked_digits(classifier, test_split, adversarial)
    label = classifier.label
    device = resolve_device(adversarial.device)
    attacked = classifier.to(device).eval()  # takes images in [0, 1], standardises them itself
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


def attacked_digits(
    classifier: classifier_module.DigitClassifier, test_split: dict[str, np.ndarray], adversarial: AdversarialParameters
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """The attacked test digits (``adversarial.test_images`` of them, stratified, seeded): labels, images in [0, 1], labels as a tensor."""
    split = stratified_subset(test_split, adversarial.test_images, seed=adversarial.seed)
    labels = split["labels"].astype(np.int64)
    return labels, torch.from_numpy(split["images"]).float() / classifier.standardise.scale, torch.from_numpy(labels)


class AutoAttackRecord(BaseModel):
    """One classifier's accuracy under AutoAttack's core at one radius, on the attacked test digits (saved as JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    label: str
    test_images: int
    clean: float
    """Clean accuracy on these digits (a share, 0 to 1)."""
    accuracy_after: dict[str, float]
    """The accuracy left after each attack in turn (``settings.after`` first, then AutoAttack's), each on what the ones before it left."""
    robust: float
    """The images no attack broke: the figure the literature reports."""
    seconds: dict[str, float]
    settings: AutoAttackParameters
    robust_model: bool
    """Trained with adversarial examples (one of ``adversarial.robust_models``)."""
    transfer_source: str | None = None
    """The model the black-box transfer attack was made against (a robust model's baseline); None: not run."""
    transfer_accuracy: float | None = None
    """Accuracy on ``settings.after``'s images made against ``transfer_source``."""


def autoattack_model(
    classifier: classifier_module.DigitClassifier,
    test_split: dict[str, np.ndarray],
    adversarial: AdversarialParameters,
    source: classifier_module.DigitClassifier | None = None,
    *,
    model: str,
) -> AutoAttackRecord:
    """Accuracy of one trained classifier under ``adversarial.after`` and then AutoAttack's core (APGD-CE, APGD-T, Square).

    With a ``source`` model (a robust model's baseline), also its accuracy on the ``after`` attack's images made against
    ``source``: a black-box transfer attack, which masked gradients would make stronger than the white-box one.
    """
    from practical_dl.core.runtime import resolve_device
    from practical_dl.methods.attacks import share, unbroken_by

    settings = adversarial.autoattack
    if settings is None:
        raise ValueError("adversarial.autoattack is null: AutoAttack is not run (the pipeline has no such node then)")
    _, x, y = attacked_digits(classifier, test_split, adversarial)
    device = resolve_device(adversarial.device)
    attacked = classifier.to(device).float().eval()
    accuracy_after, seconds, unbroken, transfer = {}, {}, None, None
    if settings.after is not None:
        start = time.perf_counter()
        attack = adversarial.attacks[settings.after]
        generator = torch.Generator(device=device).manual_seed(adversarial.seed)
        unbroken = unbroken_by(attacked, x, y, attack, settings.epsilon, adversarial.batch_size, generator)
        accuracy_after[settings.after], seconds[settings.after] = share(unbroken), time.perf_counter() - start
        if source is not None:
            made_on = source.to(device).float().eval()
            generator = torch.Generator(device=device).manual_seed(adversarial.seed)
            transferred = unbroken_by(made_on, x, y, attack, settings.epsilon, adversarial.batch_size, generator, judge=attacked)
            transfer = share(transferred)
    result = settings(attacked, x, y, unbroken=unbroken)
    accuracy_after |= {a.attack: a.accuracy for a in result.attacks}
    seconds |= {a.attack: a.seconds for a in result.attacks}
    logger.info(
        "%s under AutoAttack's core at ε=%g: %.1f%% (%.0f s)",
        classifier.label,
        settings.epsilon,
        100 * result.robust_accuracy,
        sum(seconds.values()),
    )
    return AutoAttackRecord(
        model=model,
        label=classifier.label,
        test_images=result.n,
        clean=result.clean_accuracy,
        accuracy_after=accuracy_after,
        robust=result.robust_accuracy,
        seconds=seconds,
        settings=settings,
        robust_model=model in adversarial.robust_models,
        transfer_source=source.label if transfer is not None else None,
        transfer_accuracy=transfer,
    )


def _adversarial_training(defaults: TrainingSettings, training: TrainingOverrides, model: str) -> dict[str, Any] | None:
    """The model's adversarial training as its parameters set it (None: none)."""
    if training_settings(defaults, training, where=f"{model}.training").adversarial is None:
        return None
    as_set = deep_merge(defaults.model_dump(exclude_unset=True, by_alias=True), training.model_dump(exclude_unset=True, by_alias=True))
    return as_set.get("adversarial")


def _examples_figure(
    attacked: classifier_module.DigitClassifier,
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


def report_attacks(adversarial: AdversarialParameters, *outcomes: AttackResult | AutoAttackRecord) -> dict[str, Any]:
    """The tables, the picture, the MLflow metric histories and the report of every model under every attack.

    ``outcomes``: every model's :class:`AttackResult`, and its :class:`AutoAttackRecord` where AutoAttack ran. The accuracy
    table has one row per model and attack, one column per epsilon; the histories' step is 100 epsilon; the report's claims
    check the expected behaviour (:func:`attack_claims`, :func:`autoattack_claims`).
    """
    results = tuple(o for o in outcomes if isinstance(o, AttackResult))
    records = tuple(o for o in outcomes if isinstance(o, AutoAttackRecord))
    rows = []
    metrics: dict[str, list[dict[str, float]]] = {}
    for r in results:
        for attack, accs in r.accuracy.items():
            rows.append({"model": r.label, "attack": attack} | {f"ε={e:g}": round(100 * a, 1) for e, a in zip(r.epsilons, accs)})
            metrics[f"{r.model}.{attack}_accuracy"] = metric_history((round(100 * e), a) for e, a in zip(r.epsilons, accs))
    for record in records:
        metrics[f"{record.model}.autoattack_accuracy"] = metric_history([(round(100 * record.settings.epsilon), record.robust)])
    table = pd.DataFrame(rows)
    autoattack = autoattack_table(records)
    n = results[0].test_images if results else 0
    tables: dict[str, pd.DataFrame | str] = {"Accuracy (%) of every model under every attack": table}
    if records:
        tables[f"AutoAttack's core at ε = {records[0].settings.epsilon:g}: accuracy (%) left after each attack"] = autoattack
    report = Report(
        "Accuracy under attack (%)",
        about=(
            f"L∞ attacks in pixel space [0, 1] on {n} test images (a seeded, stratified subset of the test split); "
            "ε = 0 is the clean accuracy." + (f" {autoattack_about(records[0].settings)}" if records else "")
        ),
        claims=attack_claims(adversarial, results) + autoattack_claims(records),
        tables=tables,
        claims_heading="What the runs show",
        tables_first=True,
    )
    return {
        "table": table,
        "autoattack": autoattack,
        "markdown": report,
        "plot": accuracy_under_attack_figure(results),
        "metrics": metrics,
    }


def autoattack_about(settings: AutoAttackParameters) -> str:
    """How AutoAttack's core was run, in a sentence for the report."""
    first = f"after our `{settings.after}` at the same ε (what it breaks is not attacked again), " if settings.after else ""
    targets = f"{settings.target_classes} target class{'es' if settings.target_classes > 1 else ''}"
    return (
        f"AutoAttack's core from the Adversarial Robustness Toolbox, {first}each attack on what the ones before it left: "
        f"APGD-CE ({settings.apgd_steps} steps), APGD-T (DLR loss, {targets}, {settings.apgd_steps} steps "
        f"each), Square ({settings.square_queries:,} queries); no FAB-T, so the figure can only be higher than the standard "
        "AutoAttack's (docs/lecture-claims.md). The published figures are the AutoAttack README's MNIST table at ε = 0.3."
    )


def autoattack_table(records: tuple[AutoAttackRecord, ...]) -> pd.DataFrame:
    """One row per model (accuracy % left after each attack, the robust figure, seconds), then the published figures (at their ε)."""
    rows = []
    for r in records:
        left = {attack: round(100 * a, 1) for attack, a in r.accuracy_after.items()}
        rows.append({"model": r.label, "clean": round(100 * r.clean, 1)} | left | {"AutoAttack": round(100 * r.robust, 1)})
        rows[-1]["seconds"] = round(sum(r.seconds.values()))
    if records and records[0].settings.epsilon == PUBLISHED_EPSILON:
        rows += [{"model": f"{who}, AutoAttack README", "AutoAttack": accuracy} for who, accuracy in PUBLISHED_MNIST.items()]
    return pd.DataFrame(rows).astype(object).fillna("")  # a published figure has no other column


#: The published defences a robust model is weighed against: the recipe, and its entry of PUBLISHED_MNIST ("<who> (<how>)").
LITERATURE = {
    "fast adversarial training": "Wong et al. 2020 (fast FGSM training)",
    "PGD adversarial training": "Madry et al. 2018 (PGD training)",
}


def autoattack_claims(records: tuple[AutoAttackRecord, ...]) -> list[Claim]:
    """For each robust model: its figure against the published ones of :data:`LITERATURE` (the margin weighed against the
    binomial standard error of an accuracy on this many images), and the checks that its gradients are not masked."""
    claims = []
    for r in (r for r in records if r.robust_model):
        error = 100 * float(np.sqrt(r.robust * (1 - r.robust) / r.test_images))
        if r.settings.epsilon == PUBLISHED_EPSILON:
            for recipe, key in LITERATURE.items():
                who, published = key.split(" (")[0], PUBLISHED_MNIST[key]
                claims.append(
                    Claim.from_margin(
                        f"{r.label} holds under AutoAttack at ε = {r.settings.epsilon:g} what {recipe} does in the "
                        f"literature ({who}: {published:.2f}%)",
                        100 * r.robust - published,
                        error,
                        f"{100 * r.robust:.1f}% ± {error:.1f} (binomial standard error, {r.test_images} images) vs {published:.2f}%",
                    )
                )
        if r.transfer_accuracy is not None and r.settings.after is not None:
            white = r.accuracy_after[r.settings.after]
            claims.append(
                Claim.check(
                    f"{r.label}'s robustness is not masked gradients: {r.settings.after} made against {r.transfer_source} "
                    "(a black-box transfer attack) is no stronger than made against it",
                    r.transfer_accuracy >= white,
                    f"{100 * r.transfer_accuracy:.1f}% transferred vs {100 * white:.1f}% white-box",
                )
            )
        gradient, square = [r.accuracy_after[a] for a in AUTOATTACK if a != "Square"][-1], r.accuracy_after["Square"]
        claims.append(
            Claim.check(
                f"{r.label}'s robustness is not masked gradients: the gradient-free Square attack breaks at most "
                f"{SQUARE_TOLERANCE:.0%} of the images the gradient attacks left",
                gradient - square <= SQUARE_TOLERANCE,
                f"{100 * gradient:.1f}% after APGD, {100 * square:.1f}% after Square",
            )
        )
    return claims


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
        if pg is not None and r.adversarial_training:  # masked gradients would leave PGD's accuracy flat as ε grows
            rates = ", ".join(f"{100 * a:.1f}% at ε={e:g}" for e, a in zip(eps, pg))
            claims.append(Claim.check(f"{r.label}: PGD accuracy falls as ε grows", all(b < a for a, b in zip(pg, pg[1:])), rates))
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

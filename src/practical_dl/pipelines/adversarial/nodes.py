"""Nodes of the ``adversarial`` pipeline (thin: the attacks are in ``practical_dl.methods.attacks``)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from practical_dl.core.params import deep_merge
from practical_dl.core.runtime import resolve_device
from practical_dl.core.splits import first_per_class, stratified_subset
from practical_dl.methods.attacks import accuracy_under_attack, check_adversarial_parameters
from practical_dl.models.classifier import DigitClassifier
from practical_dl.pipelines.adversarial.figures import accuracy_under_attack_figure
from practical_dl.project.figures import adversarial_examples_figure
from practical_dl.project.parameter_checks import register_check
from practical_dl.project.reporting import metric_history, verdict

logger = logging.getLogger(__name__)

register_check("adversarial", lambda p: check_adversarial_parameters(p.get("adversarial") or {}))


def attack_model(
    classifier: DigitClassifier,
    test_split: dict[str, np.ndarray],
    training_params: dict[str, Any],
    training_defaults: dict[str, Any],
    adversarial: dict[str, Any],
    *,
    model: str,
) -> tuple[dict[str, Any], Figure]:
    """Accuracy of one trained classifier (the namespace ``model``) under every attack at every epsilon, and a grid of
    clean and adversarial digits with its predictions."""
    attacks = check_adversarial_parameters(adversarial)
    split = stratified_subset(test_split, adversarial.get("test_images"), seed=int(adversarial.get("seed", 0)))
    images, labels = split["images"], split["labels"].astype(np.int64)
    label = classifier.label
    device = resolve_device(adversarial.get("device", "auto"))
    attacked = classifier.to(device).eval()  # takes images in [0, 1], standardises them itself
    x = torch.from_numpy(images).float() / classifier.standardise.scale
    y = torch.from_numpy(labels)
    epsilons = [float(e) for e in adversarial["epsilons"]]
    seed = int(adversarial.get("seed", 0))
    accuracy, seconds = {}, {}
    for name, attack in attacks.items():
        start = time.perf_counter()
        accuracy[name] = accuracy_under_attack(attacked, x, y, attack, epsilons, int(adversarial.get("batch_size", 500)), seed)
        seconds[name] = time.perf_counter() - start
        logger.info(
            "%s under %s: %s (%.1fs)",
            label,
            name,
            ", ".join(f"ε={e:g}: {100 * a:.1f}%" for e, a in zip(epsilons, accuracy[name])),
            seconds[name],
        )

    examples = adversarial.get("examples") or {}
    picked = first_per_class(labels, int(examples.get("per_class", 1)))
    rows = [("clean", x[picked])]
    for name, attack in attacks.items():
        for eps in examples.get("epsilons") or [0.1, 0.2, 0.3]:
            generator = torch.Generator(device=device).manual_seed(seed)
            rows.append((f"{name} ε={eps:g}", attack(attacked, x[picked].to(device), y[picked].to(device), float(eps), generator).cpu()))
    with torch.no_grad():
        predictions = [attacked(r.to(device)).argmax(1).cpu().numpy() for _, r in rows]
    figure = adversarial_examples_figure(
        [(name, (r.numpy() * 255).round().astype(np.uint8), p) for (name, r), p in zip(rows, predictions)],
        labels[picked],
        f"{label}: clean and adversarial test digits with the model's predictions (red: wrong)",
    )
    result = {
        "model": model,
        "label": label,
        "test_images": int(len(labels)),
        "epsilons": epsilons,
        "accuracy": accuracy,
        "attacks": {name: attack.to_dict() for name, attack in attacks.items()},
        "seconds": seconds,
        "adversarial_training": deep_merge(training_defaults, training_params).get("adversarial"),
    }
    return result, figure


def report_attacks(adversarial: dict[str, Any], *results: dict[str, Any]) -> dict[str, Any]:
    """The table (one row per model and attack, one column per epsilon), the picture, the
    MLflow metric histories (step = 100 epsilon) and a report that checks the expected behaviour."""
    rows = []
    metrics: dict[str, list[dict[str, float]]] = {}
    for r in results:
        for attack, accs in r["accuracy"].items():
            rows.append({"model": r["label"], "attack": attack} | {f"ε={e:g}": round(100 * a, 1) for e, a in zip(r["epsilons"], accs)})
            metrics[f"{r['model']}.{attack}_accuracy"] = metric_history((round(100 * e), a) for e, a in zip(r["epsilons"], accs))
    table = pd.DataFrame(rows)
    n = results[0]["test_images"] if results else 0
    lines = [
        "# Accuracy under attack (%)",
        "",
        (
            f"L∞ attacks in pixel space [0, 1] on {n} test images (a seeded, stratified subset of the test split); "
            "ε = 0 is the clean accuracy."
        ),
        "",
        table.to_markdown(index=False),
        "",
        "## What the runs show",
        "",
        *check_attack_claims(adversarial, results),
        "",
    ]
    return {
        "table": table,
        "markdown": "\n".join(lines),
        "plot": accuracy_under_attack_figure(results),
        "metrics": metrics,
    }


def attacked_models(adversarial: dict[str, Any], trained_models: list[str]) -> list[str]:
    """``adversarial.models`` (default: every trained model), then the robust models."""
    models = adversarial.get("models") or list(trained_models)
    return list(dict.fromkeys([*models, *(adversarial.get("robust_models") or [])]))


def check_attack_claims(adversarial: dict[str, Any], results: tuple[dict, ...]) -> list[str]:
    """The expected behaviour, each point confirmed or contradicted by the measured numbers."""

    lines = []
    for r in results:
        eps = r["epsilons"]
        fg, pg = r["accuracy"].get("fgsm"), r["accuracy"].get("pgd")
        if fg is not None:
            falling = all(b <= a for a, b in zip(fg, fg[1:]))
            lines.append(
                f"- {r['label']}: FGSM accuracy falls as ε grows: {verdict(falling)} — "
                + ", ".join(f"{100 * a:.1f}% at ε={e:g}" for e, a in zip(eps, fg))
                + "."
            )
        if fg is not None and pg is not None:
            stronger = all(p <= f for p, f in zip(pg, fg))
            lines.append(f"- {r['label']}: PGD is at least as strong as FGSM at every ε: {verdict(stronger)}.")
    base = next((r for r in results if r["model"] == adversarial.get("baseline")), None)
    for r in results:
        if not r.get("adversarial_training") or base is None:
            continue
        for attack in r["accuracy"]:
            if attack not in base["accuracy"]:
                continue
            pairs = [
                (e, a, b)
                for e, a, b in zip(r["epsilons"], r["accuracy"][attack], base["accuracy"][attack])
                if e in (0.1, 0.2) or e == max(r["epsilons"])
            ]
            lines.append(
                f"- Adversarial training makes {r['label']} more robust to {attack} than {base['label']}: "
                + verdict(all(a > b for e, a, b in pairs if e > 0))
                + " — "
                + ", ".join(f"ε={e:g}: {100 * a:.1f}% vs {100 * b:.1f}%" for e, a, b in pairs)
                + f"; clean accuracy {100 * r['accuracy'][attack][0]:.1f}% vs {100 * base['accuracy'][attack][0]:.1f}%"
                + " (on this subset; the full test split is in its test_metrics.json)."
            )
    return lines

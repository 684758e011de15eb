"""Nodes of the ``dropout_ensemble`` pipeline: the members are trained by the sweeps' member
trainer (:func:`practical_dl.project.sweeps.train_member`); the ensembles, Monte-Carlo dropout
and calibration are in ``practical_dl.methods.calibration``."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from practical_dl.core.augment import AugmentConfig
from practical_dl.core.engine import predict
from practical_dl.core.params import IncreasingList, NonNegativeInt, PositiveInt, Settings, merged
from practical_dl.methods.calibration import mc_dropout_probabilities, reliability
from practical_dl.pipelines.dropout_ensemble.figures import dropout_ensemble_figure
from practical_dl.project.parameters import ModelSpec, TrainingOverrides, TrainingSettings, training_settings
from practical_dl.project.reporting import metric_history, verdict
from practical_dl.project.sweeps import train_member

logger = logging.getLogger(__name__)

SWEEP = "dropout_ensemble"


class DropoutEnsembleParameters(Settings):
    """The ``dropout_ensemble`` block: plain networks (each its own seed) and one with dropout, trained alike."""

    train_limit: PositiveInt | None = None
    """A stratified slice of the train split, the same for every member (null: all of it)."""
    seed: NonNegativeInt = 0
    """The slice, and the members' seeds (seed + i)."""
    model: ModelSpec
    training: TrainingOverrides | None = None
    """Every member's training over training_defaults."""
    dropout: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
    """Before each linear layer of the dropout network."""
    members: PositiveInt
    """Plain networks trained."""
    ensemble_sizes: IncreasingList[PositiveInt]
    """Ensembles of the first k plain networks."""
    mc_samples: PositiveInt = 32
    """Monte-Carlo dropout: passes with dropout on, averaged."""
    calibration_bins: PositiveInt = 15
    """Equal-width confidence bins of the expected calibration error."""

    @model_validator(mode="after")
    def _ensembles_of_trained_members(self) -> DropoutEnsembleParameters:
        for i, k in enumerate(self.ensemble_sizes):
            if k > self.members:
                raise ValueError(f"ensemble_sizes[{i}] is {k}, more than the {self.members} members trained")
        return self


def ensemble_members(dropout_ensemble: DropoutEnsembleParameters) -> list[str]:
    """``plain_1`` … ``plain_<members>`` (no dropout, each its own seed), then ``dropout``."""
    return [*(f"plain_{i}" for i in range(1, dropout_ensemble.members + 1)), "dropout"]


def member_spec(dropout_ensemble: DropoutEnsembleParameters, defaults: TrainingSettings, member: str) -> tuple[ModelSpec, TrainingSettings]:
    """One member's network and training settings: ``dropout_ensemble.model`` with the member's
    dropout (0 for the plain ones); ``training_defaults``, ``dropout_ensemble.training``, then the
    member's seed (``seed + i``, ``seed`` for the dropout network)."""
    dropout = member == "dropout"
    index = 0 if dropout else int(member.removeprefix("plain_"))
    model = merged(
        ModelSpec,
        dropout_ensemble.model,
        {"options": {"dropout": float(dropout_ensemble.dropout) if dropout else 0.0}},
        where="dropout_ensemble.model",
    )
    config = training_settings(
        defaults, dropout_ensemble.training, {"seed": dropout_ensemble.seed + index}, where="dropout_ensemble.training"
    )
    return model, config


def train_ensemble_member(
    train_split: dict[str, np.ndarray],
    validation_split: dict[str, np.ndarray],
    test_split: dict[str, np.ndarray],
    standardisation_stats: dict,
    dropout_ensemble: DropoutEnsembleParameters,
    training_defaults: TrainingSettings,
    augmentation: AugmentConfig,
    *,
    member: str,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Train one member on the same slice of the train split as the others (a child MLflow run);
    return its summary and its softmax probabilities on the test split — for the dropout
    network also the Monte-Carlo average of ``mc_samples`` passes with dropout on."""
    seed = dropout_ensemble.seed
    model_spec, config = member_spec(dropout_ensemble, training_defaults, member)
    summary, model, standardiser = train_member(
        train_split,
        validation_split,
        test_split,
        standardisation_stats,
        model=model_spec,
        training=config,
        augmentation=augmentation,
        train_limit=dropout_ensemble.train_limit,
        seed=seed,  # the same training images for every member
        sweep=SWEEP,
        member=member,
        pipeline=SWEEP,
        where=SWEEP,
    )
    device = config.device
    logits = predict(model, test_split["images"], standardiser, device=device)
    out = {"probabilities": np.asarray(logits.softmax(1).numpy(), dtype=np.float32)}
    if member == "dropout":
        samples = dropout_ensemble.mc_samples
        out["mc_probabilities"] = mc_dropout_probabilities(model, test_split["images"], standardiser, samples, seed, device).astype(
            np.float32
        )
        logger.info("%s: Monte-Carlo average of %d passes with dropout on", member, samples)
    return summary, out


def _scores(probabilities: np.ndarray, labels: np.ndarray, bins: int) -> dict[str, Any]:
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1)
    return {
        "error": 100 * float((probabilities.argmax(1) != labels).mean()),
        "nll": float(-np.log(picked).mean()),
        "reliability": reliability(probabilities, labels, bins),
    }


def report_dropout_ensemble(dropout_ensemble: DropoutEnsembleParameters, test_split: dict[str, np.ndarray], *pairs: Any) -> dict[str, Any]:
    """Test error, negative log-likelihood and calibration (ECE) of one network, of ensembles of
    the first k networks (the average of their probabilities), of the dropout network (one pass,
    the weight-scaling rule) and of its Monte-Carlo average; the picture; the claims."""
    labels = test_split["labels"].astype(np.int64)
    bins = dropout_ensemble.calibration_bins
    results, probabilities = pairs[0::2], pairs[1::2]
    plain = [p["probabilities"] for r, p in zip(results, probabilities) if r["member"] != "dropout"]
    drop_result, drop = next((r, p) for r, p in zip(results, probabilities) if r["member"] == "dropout")
    p_drop = float(dropout_ensemble.dropout)
    singles = [_scores(p, labels, bins) for p in plain]
    sizes = sorted({1, *dropout_ensemble.ensemble_sizes})
    ensembles = {k: _scores(np.mean(plain[:k], axis=0), labels, bins) for k in sizes}
    weight_scaling = _scores(drop["probabilities"], labels, bins)
    samples = dropout_ensemble.mc_samples
    mc = _scores(drop["mc_probabilities"], labels, bins)

    def row(name: str, trained: int, s: dict[str, Any]) -> dict[str, Any]:
        return {
            "model": name,
            "networks trained": trained,
            "test error (%)": round(s["error"], 2),
            "test NLL": round(s["nll"], 4),
            "ECE (%)": round(100 * s["reliability"]["ece"], 2),
        }

    mean_single = {
        "error": float(np.mean([s["error"] for s in singles])),
        "nll": float(np.mean([s["nll"] for s in singles])),
        "reliability": {"ece": float(np.mean([s["reliability"]["ece"] for s in singles]))},
    }
    rows = [row(f"one network without dropout (mean of {len(singles)})", 1, mean_single)]
    rows += [row(f"ensemble of {k} without dropout", k, ensembles[k]) for k in sizes if k > 1]
    rows += [
        row(f"dropout p={p_drop:g}, one pass (weight scaling)", 1, weight_scaling),
        row(f"dropout p={p_drop:g}, average of {samples} passes (MC dropout)", 1, mc),
    ]
    table = pd.DataFrame(rows)

    largest = max(sizes)
    matched = [k for k in sizes if ensembles[k]["error"] >= weight_scaling["error"]]
    smallest_ensemble = min((k for k in sizes if k > 1), default=largest)
    claims = [
        f"- Dropout improves on one network trained without it: {verdict(weight_scaling['error'] < mean_single['error'])} — "
        f"{weight_scaling['error']:.2f}% against {mean_single['error']:.2f}% (the mean of {len(singles)}: "
        f"{min(s['error'] for s in singles):.2f}–{max(s['error'] for s in singles):.2f}%).",
        f"- One dropout network is as accurate as an ensemble of independently trained networks: "
        f"{verdict(weight_scaling['error'] <= ensembles[smallest_ensemble]['error'])} — "
        + (
            f"it is as accurate as an ensemble of {max(matched)} (one training instead of {max(matched)}); "
            if matched and max(matched) > 1
            else "it beats the first network alone, not an ensemble; "
            if matched
            else "even the first network alone is more accurate; "
        )
        + ", ".join(f"{k}: {ensembles[k]['error']:.2f}%" for k in sizes)
        + ".",
        f"- Averaging {samples} thinned networks at test time (MC dropout) is at least as accurate as the one pass of the "
        f"weight-scaling rule: {verdict(mc['error'] <= weight_scaling['error'])} — "
        f"{mc['error']:.2f}% against {weight_scaling['error']:.2f}%.",
        f"- Averaging networks makes the probabilities better calibrated (lower ECE than one network): "
        f"{verdict(ensembles[largest]['reliability']['ece'] < mean_single['reliability']['ece'])} — ensemble of {largest}: "
        f"{100 * ensembles[largest]['reliability']['ece']:.2f}%, one network: {100 * mean_single['reliability']['ece']:.2f}%; "
        "dropout one pass "
        f"{100 * weight_scaling['reliability']['ece']:.2f}%, MC dropout {100 * mc['reliability']['ece']:.2f}%.",
    ]
    images = drop_result["train_images"]
    epochs = len(drop_result["history"])
    markdown = (
        "# Dropout as an ensemble: what these runs show\n\n"
        "The lecture: dropout trains an exponential number of thinned networks that share weights and so emulates an "
        f"ensemble of models. Here {len(singles)} SimpLeNets without dropout (each its own seed) and one with dropout "
        f"(p = {p_drop:g} before the linear layers) are trained the same way "
        f"({epochs} epoch{'s' if epochs != 1 else ''} of the same {images} training "
        f"images), then scored on the {len(labels)} test digits: the average of the first k plain networks' probabilities, "
        f"the dropout network with dropout off (the weight-scaling rule) and with dropout on, averaged over {samples} passes "
        f"(Monte-Carlo dropout). ECE: expected calibration error over {bins} confidence bins. Each network is a child MLflow "
        "run tagged `sweep = dropout_ensemble`.\n\n## The lecture's claims\n\n"
        + "\n".join(claims)
        + "\n\n## Every model\n\n"
        + table.to_markdown(index=False)
        + "\n"
    )
    for line in claims:
        logger.info("%s", line.replace("**", ""))
    metrics = {
        "ensemble_test_error": metric_history((k, ensembles[k]["error"]) for k in sizes),
        "ensemble_ece": metric_history((k, ensembles[k]["reliability"]["ece"]) for k in sizes),
        "dropout_test_error": metric_history([(0, weight_scaling["error"])]),
        "dropout_ece": metric_history([(0, weight_scaling["reliability"]["ece"])]),
        "mc_dropout_test_error": metric_history([(samples, mc["error"])]),
        "mc_dropout_ece": metric_history([(samples, mc["reliability"]["ece"])]),
    }
    figure = dropout_ensemble_figure(
        {k: ensembles[k]["error"] for k in sizes},
        {"dropout, one pass": weight_scaling["error"], f"MC dropout ({samples} passes)": mc["error"]},
        {
            "one network": singles[0]["reliability"],
            f"ensemble of {largest}": ensembles[largest]["reliability"],
            "dropout, one pass": weight_scaling["reliability"],
            "MC dropout": mc["reliability"],
        },
    )
    return {"table": table, "report": markdown, "plot": figure, "metrics": metrics}

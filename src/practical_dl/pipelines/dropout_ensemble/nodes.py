"""Nodes of the ``dropout_ensemble`` pipeline: its members, their scores, the claims and the report.

The members are trained by the sweeps' member trainer (:func:`practical_dl.project.sweeps.train_member`);
the ensembles, Monte-Carlo dropout and calibration are in ``practical_dl.methods.calibration``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import Field, model_validator

from practical_dl.core.augment import AugmentConfig
from practical_dl.core.engine import predict
from practical_dl.core.params import IncreasingList, NonNegativeInt, PositiveInt, Settings, merged
from practical_dl.methods.calibration import mc_dropout_probabilities, reliability
from practical_dl.pipelines.dropout_ensemble.figures import dropout_ensemble_figure
from practical_dl.project.parameters import ModelSpec, TrainingOverrides, TrainingSettings, training_settings
from practical_dl.project.reporting import Claim, Report, metric_history
from practical_dl.project.sweeps import MemberSummary, SweepData, SweepMember, train_member

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
    """One member's network and training settings.

    ``dropout_ensemble.model`` with the member's dropout (0 for the plain ones); ``training_defaults``,
    ``dropout_ensemble.training``, then the member's seed (``seed + i``, ``seed`` for the dropout network)."""
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
) -> tuple[MemberSummary, dict[str, np.ndarray]]:
    """Train one member on the same slice of the train split as the others (a child MLflow run).

    Returns its summary and its softmax probabilities on the test split — for the dropout network
    also the Monte-Carlo average of ``mc_samples`` passes with dropout on."""
    seed = dropout_ensemble.seed
    model_spec, config = member_spec(dropout_ensemble, training_defaults, member)
    data = SweepData(train_split, validation_split, test_split, standardisation_stats)
    # the same training images for every member
    who = SweepMember(pipeline=SWEEP, sweep=SWEEP, member=member, where=SWEEP, train_limit=dropout_ensemble.train_limit, seed=seed)
    summary, trained = train_member(data, model_spec, config, augmentation, who)
    model, standardiser = trained.model, trained.standardiser
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


@dataclass(frozen=True)
class MethodScores:
    """One way of predicting, scored on the test split.

    Error (%), negative log-likelihood and calibration (the ECE, a fraction; ``reliability``: the
    per-bin diagram, None for a mean of several)."""

    error: float
    nll: float
    ece: float
    reliability: dict[str, Any] | None = None

    @classmethod
    def of(cls, probabilities: np.ndarray, labels: np.ndarray, bins: int) -> MethodScores:
        """The scores of ``probabilities`` (N x classes) against ``labels``, ECE over ``bins`` confidence bins."""
        picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1)
        diagram = reliability(probabilities, labels, bins)
        return cls(100 * float((probabilities.argmax(1) != labels).mean()), float(-np.log(picked).mean()), diagram["ece"], diagram)

    @classmethod
    def mean(cls, scores: Sequence[MethodScores]) -> MethodScores:
        """The mean error, NLL and ECE of several (no diagram)."""
        return cls(
            error=float(np.mean([s.error for s in scores])),
            nll=float(np.mean([s.nll for s in scores])),
            ece=float(np.mean([s.ece for s in scores])),
        )


@dataclass(frozen=True)
class Comparison:
    """Every way of predicting, scored.

    Each plain network alone, ensembles of the first k of them, the dropout network in one pass
    (the weight-scaling rule) and its Monte-Carlo average of ``samples`` passes."""

    singles: list[MethodScores]
    ensembles: dict[int, MethodScores]
    """By k, the ensemble sizes (1 included), in increasing order."""
    weight_scaling: MethodScores
    mc: MethodScores
    samples: int

    @property
    def mean_single(self) -> MethodScores:
        return MethodScores.mean(self.singles)

    @property
    def sizes(self) -> list[int]:
        return list(self.ensembles)


def compare_methods(
    dropout_ensemble: DropoutEnsembleParameters, labels: np.ndarray, plain: Sequence[np.ndarray], dropout: dict[str, np.ndarray]
) -> Comparison:
    """Score every way of predicting against the test ``labels``.

    The plain networks' test probabilities (each, and ensembles of the first k) and the dropout
    network's (``probabilities``: one pass; ``mc_probabilities``: the Monte-Carlo average)."""
    bins = dropout_ensemble.calibration_bins
    sizes = sorted({1, *dropout_ensemble.ensemble_sizes})
    return Comparison(
        singles=[MethodScores.of(p, labels, bins) for p in plain],
        ensembles={k: MethodScores.of(np.mean(plain[:k], axis=0), labels, bins) for k in sizes},
        weight_scaling=MethodScores.of(dropout["probabilities"], labels, bins),
        mc=MethodScores.of(dropout["mc_probabilities"], labels, bins),
        samples=dropout_ensemble.mc_samples,
    )


def _dropout_beats_one_claim(c: Comparison) -> Claim:
    errors = [s.error for s in c.singles]
    return Claim.check(
        "Dropout improves on one network trained without it",
        c.weight_scaling.error < c.mean_single.error,
        f"{c.weight_scaling.error:.2f}% against {c.mean_single.error:.2f}% (the mean of {len(c.singles)}: "
        f"{min(errors):.2f}–{max(errors):.2f}%)",
    )


def _dropout_matches_ensemble_claim(c: Comparison) -> Claim:
    matched = [k for k in c.sizes if c.ensembles[k].error >= c.weight_scaling.error]
    smallest_ensemble = min((k for k in c.sizes if k > 1), default=max(c.sizes))
    if matched and max(matched) > 1:
        found = f"it is as accurate as an ensemble of {max(matched)} (one training instead of {max(matched)})"
    else:
        found = "it beats the first network alone, not an ensemble" if matched else "even the first network alone is more accurate"
    return Claim.check(
        "One dropout network is as accurate as an ensemble of independently trained networks",
        c.weight_scaling.error <= c.ensembles[smallest_ensemble].error,
        f"{found}; " + ", ".join(f"{k}: {c.ensembles[k].error:.2f}%" for k in c.sizes),
    )


def _mc_dropout_claim(c: Comparison) -> Claim:
    return Claim.check(
        f"Averaging {c.samples} thinned networks at test time (MC dropout) is at least as accurate as the one pass of the "
        "weight-scaling rule",
        c.mc.error <= c.weight_scaling.error,
        f"{c.mc.error:.2f}% against {c.weight_scaling.error:.2f}%",
    )


def _calibration_claim(c: Comparison) -> Claim:
    largest = max(c.sizes)
    return Claim.check(
        "Averaging networks makes the probabilities better calibrated (lower ECE than one network)",
        c.ensembles[largest].ece < c.mean_single.ece,
        f"ensemble of {largest}: {100 * c.ensembles[largest].ece:.2f}%, one network: {100 * c.mean_single.ece:.2f}%; "
        f"dropout one pass {100 * c.weight_scaling.ece:.2f}%, MC dropout {100 * c.mc.ece:.2f}%",
    )


def check_dropout_ensemble_claims(comparison: Comparison) -> list[Claim]:
    """The lecture's claims about dropout as an ensemble, each held or contradicted by the scores."""
    return [
        _dropout_beats_one_claim(comparison),
        _dropout_matches_ensemble_claim(comparison),
        _mc_dropout_claim(comparison),
        _calibration_claim(comparison),
    ]


def _models_table(c: Comparison, dropout: float) -> pd.DataFrame:
    """One row per method: one network (the mean), each ensemble, the dropout network in one pass and averaged."""

    def row(name: str, trained: int, s: MethodScores) -> dict[str, Any]:
        return {
            "model": name,
            "networks trained": trained,
            "test error (%)": round(s.error, 2),
            "test NLL": round(s.nll, 4),
            "ECE (%)": round(100 * s.ece, 2),
        }

    rows = [row(f"one network without dropout (mean of {len(c.singles)})", 1, c.mean_single)]
    rows += [row(f"ensemble of {k} without dropout", k, c.ensembles[k]) for k in c.sizes if k > 1]
    rows += [
        row(f"dropout p={dropout:g}, one pass (weight scaling)", 1, c.weight_scaling),
        row(f"dropout p={dropout:g}, average of {c.samples} passes (MC dropout)", 1, c.mc),
    ]
    return pd.DataFrame(rows)


def _metrics(c: Comparison) -> dict[str, list[dict[str, float]]]:
    """Test error and ECE of the ensembles (step = k), of the dropout network (step 0) and of its MC average (step = passes)."""
    return {
        "ensemble_test_error": metric_history((k, c.ensembles[k].error) for k in c.sizes),
        "ensemble_ece": metric_history((k, c.ensembles[k].ece) for k in c.sizes),
        "dropout_test_error": metric_history([(0, c.weight_scaling.error)]),
        "dropout_ece": metric_history([(0, c.weight_scaling.ece)]),
        "mc_dropout_test_error": metric_history([(c.samples, c.mc.error)]),
        "mc_dropout_ece": metric_history([(c.samples, c.mc.ece)]),
    }


def _figure(c: Comparison) -> Figure:
    largest = max(c.sizes)
    return dropout_ensemble_figure(
        {k: c.ensembles[k].error for k in c.sizes},
        {"dropout, one pass": c.weight_scaling.error, f"MC dropout ({c.samples} passes)": c.mc.error},
        {
            "one network": c.singles[0].reliability,
            f"ensemble of {largest}": c.ensembles[largest].reliability,
            "dropout, one pass": c.weight_scaling.reliability,
            "MC dropout": c.mc.reliability,
        },
    )


def _about(dropout_ensemble: DropoutEnsembleParameters, c: Comparison, dropout_run: MemberSummary, test_images: int) -> str:
    """How the networks were trained and scored."""
    epochs = dropout_run.epochs
    return (
        "The lecture: dropout trains an exponential number of thinned networks that share weights and so emulates an "
        f"ensemble of models. Here {len(c.singles)} SimpLeNets without dropout (each its own seed) and one with dropout "
        f"(p = {float(dropout_ensemble.dropout):g} before the linear layers) are trained the same way "
        f"({epochs} epoch{'s' if epochs != 1 else ''} of the same {dropout_run.train_images} training "
        f"images), then scored on the {test_images} test digits: the average of the first k plain networks' probabilities, "
        f"the dropout network with dropout off (the weight-scaling rule) and with dropout on, averaged over {c.samples} passes "
        f"(Monte-Carlo dropout). ECE: expected calibration error over {dropout_ensemble.calibration_bins} confidence bins. "
        "Each network is a child MLflow run tagged `sweep = dropout_ensemble`."
    )


def report_dropout_ensemble(
    dropout_ensemble: DropoutEnsembleParameters, test_split: dict[str, np.ndarray], *pairs: MemberSummary | dict[str, np.ndarray]
) -> dict[str, Any]:
    """The table of every way of predicting, the picture, the metrics and a report of the lecture's claims.

    Test error, negative log-likelihood and calibration (ECE) of one network, of ensembles of the
    first k networks (the average of their probabilities), of the dropout network (one pass, the
    weight-scaling rule) and of its Monte-Carlo average.

    ``pairs``: each member's summary, then its test probabilities (:func:`train_ensemble_member`)."""
    labels = test_split["labels"].astype(np.int64)
    members: list[tuple[MemberSummary, dict[str, np.ndarray]]] = list(zip(pairs[0::2], pairs[1::2]))
    plain = [p["probabilities"] for r, p in members if r.member != "dropout"]
    dropout_run, dropout = next((r, p) for r, p in members if r.member == "dropout")
    comparison = compare_methods(dropout_ensemble, labels, plain, dropout)
    table = _models_table(comparison, float(dropout_ensemble.dropout))
    report = Report(
        "Dropout as an ensemble: what these runs show",
        about=_about(dropout_ensemble, comparison, dropout_run, len(labels)),
        claims=check_dropout_ensemble_claims(comparison),
        tables={"Every model": table},
    )
    return {"table": table, "report": report, "plot": _figure(comparison), "metrics": _metrics(comparison)}

"""Nodes of the ``dropout_ensemble`` pipeline: its members, their scores, the claims and the report.

The members are trained by the sweeps' member trainer (:func:`practical_dl.project.sweeps.train_member`);
the ensembles, Monte-Carlo dropout and calibration are in ``practical_dl.methods.calibration``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import Field, model_validator

from practical_dl.core.config import AugmentConfig
from practical_dl.core.params import IncreasingList, NonNegativeInt, PositiveInt, Settings, merged
from practical_dl.pipelines.dropout_ensemble.claims import (
    Comparison,
    MethodScores,
    Spread,
    check_dropout_ensemble_claims,
    eces,
    errors,
)
from practical_dl.pipelines.dropout_ensemble.figures import dropout_ensemble_figure
from practical_dl.project.parameters import ModelSpec, TrainingOverrides, TrainingSettings, training_settings
from practical_dl.project.reporting import Report, metric_history
from practical_dl.project.sweeps import MemberSummary, SweepData, SweepMember, train_member

logger = logging.getLogger(__name__)

SWEEP = "dropout_ensemble"


class DropoutEnsembleParameters(Settings):
    """The ``dropout_ensemble`` block: plain networks and networks with dropout (each its own seed), trained alike."""

    train_limit: PositiveInt | None = None
    """A stratified slice of the train split, the same for every member (null: all of it)."""
    seed: NonNegativeInt = 0
    """The slice, and the members' seeds (plain_i: seed + i; dropout_1: seed, dropout_j: seed + members + j - 1)."""
    model: ModelSpec
    training: TrainingOverrides | None = None
    """Every member's training over training_defaults."""
    dropout: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
    """Before each linear layer of the dropout network."""
    members: PositiveInt
    """Plain networks trained."""
    dropout_members: PositiveInt = 1
    """Dropout networks trained, each its own seed (their scores: mean ± standard deviation)."""
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
    """``plain_1`` … ``plain_<members>`` (no dropout), then ``dropout_1`` … ``dropout_<dropout_members>``, each its own seed."""
    plain = [f"plain_{i}" for i in range(1, dropout_ensemble.members + 1)]
    return plain + [f"dropout_{j}" for j in range(1, dropout_ensemble.dropout_members + 1)]


def member_seed(dropout_ensemble: DropoutEnsembleParameters, member: str) -> int:
    """``plain_i``: seed + i; ``dropout_1``: seed; ``dropout_j``: seed + members + j - 1 (after the plain networks')."""
    kind, index = member.rsplit("_", 1)
    if kind == "plain":
        return dropout_ensemble.seed + int(index)
    return dropout_ensemble.seed + (0 if index == "1" else dropout_ensemble.members + int(index) - 1)


def member_spec(dropout_ensemble: DropoutEnsembleParameters, defaults: TrainingSettings, member: str) -> tuple[ModelSpec, TrainingSettings]:
    """One member's network and training settings.

    ``dropout_ensemble.model`` with the member's dropout (0 for the plain ones); ``training_defaults``,
    ``dropout_ensemble.training``, then the member's seed (:func:`member_seed`)."""
    dropout = member.startswith("dropout_")
    model = merged(
        ModelSpec,
        dropout_ensemble.model,
        {"options": {"dropout": float(dropout_ensemble.dropout) if dropout else 0.0}},
        where="dropout_ensemble.model",
    )
    config = training_settings(
        defaults, dropout_ensemble.training, {"seed": member_seed(dropout_ensemble, member)}, where="dropout_ensemble.training"
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

    Returns its summary and its softmax probabilities on the test split — for a dropout network
    also the Monte-Carlo average of ``mc_samples`` passes with dropout on (drawn with its own seed)."""
    # torch is imported when the node runs, not when the pipeline is built
    from practical_dl.core.engine import predict
    from practical_dl.methods.calibration import mc_dropout_probabilities

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
    if member.startswith("dropout_"):
        samples = dropout_ensemble.mc_samples
        out["mc_probabilities"] = mc_dropout_probabilities(model, test_split["images"], standardiser, samples, config.seed, device).astype(
            np.float32
        )
        logger.info("%s: Monte-Carlo average of %d passes with dropout on", member, samples)
    return summary, out


def compare_methods(
    dropout_ensemble: DropoutEnsembleParameters,
    labels: np.ndarray,
    plain: Sequence[np.ndarray],
    dropout: Sequence[dict[str, np.ndarray]],
) -> Comparison:
    """Score every way of predicting against the test ``labels``.

    The plain networks' test probabilities (each, and ensembles of k: the average of each disjoint
    group of k, ``len(plain) // k`` of them) and each dropout network's (``probabilities``: one
    pass; ``mc_probabilities``: the Monte-Carlo average)."""
    bins = dropout_ensemble.calibration_bins
    sizes = sorted({1, *dropout_ensemble.ensemble_sizes})
    return Comparison(
        singles=[MethodScores.of(p, labels, bins) for p in plain],
        ensembles={
            k: [MethodScores.of(np.mean(plain[g * k : (g + 1) * k], axis=0), labels, bins) for g in range(len(plain) // k)] for k in sizes
        },
        weight_scaling=[MethodScores.of(d["probabilities"], labels, bins) for d in dropout],
        mc=[MethodScores.of(d["mc_probabilities"], labels, bins) for d in dropout],
        samples=dropout_ensemble.mc_samples,
    )


def _models_table(c: Comparison, dropout: float) -> pd.DataFrame:
    """One row per method: one network, each ensemble, the dropout networks in one pass and averaged; each
    score the mean over its n networks (ensembles: over n disjoint groups) and its standard deviation."""

    def row(name: str, trained: int, scores: list[MethodScores]) -> dict[str, Any]:
        error, ece = errors(scores), eces(scores)
        return {
            "model": name,
            "networks trained": trained,
            "n": error.n,
            "test error (%)": round(error.mean, 2),
            "test error (%) std": round(error.std, 2),
            "test NLL": round(MethodScores.mean(scores).nll, 4),
            "ECE (%)": round(ece.mean, 2),
            "ECE (%) std": round(ece.std, 2),
        }

    rows = [row("one network without dropout", 1, c.singles)]
    rows += [row(f"ensemble of {k} without dropout", k, c.ensembles[k]) for k in c.sizes if k > 1]
    rows += [
        row(f"dropout p={dropout:g}, one pass (weight scaling)", 1, c.weight_scaling),
        row(f"dropout p={dropout:g}, average of {c.samples} passes (MC dropout)", 1, c.mc),
    ]
    return pd.DataFrame(rows)


def _history(key: str, points: list[tuple[int, Spread]]) -> dict[str, list[dict[str, float]]]:
    """``key`` (the means) and ``key_std`` (the standard deviations, where n > 1) as metric histories."""
    out = {key: metric_history((step, spread.mean) for step, spread in points)}
    spreads = [(step, spread.std) for step, spread in points if spread.n > 1]
    return out | ({f"{key}_std": metric_history(spreads)} if spreads else {})


def _metrics(c: Comparison) -> dict[str, list[dict[str, float]]]:
    """Test error (%) and ECE (a fraction) of the ensembles (step = k), of the dropout networks (step 0) and of their MC
    averages (step = passes): the means, and their standard deviations (``_std``) where there are several."""

    def ece(scores: list[MethodScores]) -> Spread:
        return Spread.of([s.ece for s in scores])

    return {
        **_history("ensemble_test_error", [(k, errors(c.ensembles[k])) for k in c.sizes]),
        **_history("ensemble_ece", [(k, ece(c.ensembles[k])) for k in c.sizes]),
        **_history("dropout_test_error", [(0, errors(c.weight_scaling))]),
        **_history("dropout_ece", [(0, ece(c.weight_scaling))]),
        **_history("mc_dropout_test_error", [(c.samples, errors(c.mc))]),
        **_history("mc_dropout_ece", [(c.samples, ece(c.mc))]),
    }


def _figure(c: Comparison) -> Figure:
    largest = max(c.sizes)
    return dropout_ensemble_figure(
        {k: errors(c.ensembles[k]) for k in c.sizes},
        {"dropout, one pass": errors(c.weight_scaling), f"MC dropout ({c.samples} passes)": errors(c.mc)},
        {
            "one network": c.singles[0].reliability,
            f"ensemble of {largest}": c.ensembles[largest][0].reliability,
            "dropout, one pass": c.weight_scaling[0].reliability,
            "MC dropout": c.mc[0].reliability,
        },
    )


def _about(dropout_ensemble: DropoutEnsembleParameters, c: Comparison, dropout_run: MemberSummary, test_images: int) -> str:
    """How the networks were trained and scored."""
    epochs = dropout_run.epochs
    return (
        "The lecture: dropout trains an exponential number of thinned networks that share weights and so emulates an "
        f"ensemble of models. Here {len(c.singles)} SimpLeNets without dropout and {len(c.weight_scaling)} with dropout "
        f"(p = {float(dropout_ensemble.dropout):g} before the linear layers), each its own seed, are trained the same way "
        f"({epochs} epoch{'s' if epochs != 1 else ''} of the same {dropout_run.train_images} training "
        f"images), then scored on the {test_images} test digits: the average of k plain networks' probabilities (each "
        f"disjoint group of k), each dropout network with dropout off (the weight-scaling rule) and with dropout on, averaged "
        f"over {c.samples} passes (Monte-Carlo dropout). Every score is the mean over its n networks (ensembles: groups) with "
        "its standard deviation; a verdict holds only where the difference of the means exceeds its spread (the "
        "root-sum-square of the two standard deviations; for MC against one pass of the same network, the standard "
        f"deviation of the per-network differences). ECE: expected calibration error over {dropout_ensemble.calibration_bins} "
        "confidence bins. Each network is a child MLflow run tagged `sweep = dropout_ensemble`."
    )


def report_dropout_ensemble(
    dropout_ensemble: DropoutEnsembleParameters, test_split: dict[str, np.ndarray], *pairs: MemberSummary | dict[str, np.ndarray]
) -> dict[str, Any]:
    """The table of every way of predicting, the picture, the metrics and a report of the lecture's claims.

    Test error, negative log-likelihood and calibration (ECE) of one network, of ensembles of k
    networks (the average of their probabilities), of the dropout networks (one pass, the
    weight-scaling rule) and of their Monte-Carlo averages: each the mean ± standard deviation over
    its networks, the verdicts computed from them.

    ``pairs``: each member's summary, then its test probabilities (:func:`train_ensemble_member`)."""
    labels = test_split["labels"].astype(np.int64)
    members: list[tuple[MemberSummary, dict[str, np.ndarray]]] = list(zip(pairs[0::2], pairs[1::2]))
    plain = [p["probabilities"] for r, p in members if r.member.startswith("plain_")]
    dropout = [(r, p) for r, p in members if r.member.startswith("dropout_")]
    comparison = compare_methods(dropout_ensemble, labels, plain, [p for _, p in dropout])
    table = _models_table(comparison, float(dropout_ensemble.dropout))
    report = Report(
        "Dropout as an ensemble: what these runs show",
        about=_about(dropout_ensemble, comparison, dropout[0][0], len(labels)),
        claims=check_dropout_ensemble_claims(comparison),
        tables={"Every model: mean and standard deviation over n networks (ensembles: n disjoint groups)": table},
    )
    return {"table": table, "report": report, "plot": _figure(comparison), "metrics": _metrics(comparison)}

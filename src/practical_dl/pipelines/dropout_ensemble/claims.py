"""The ``dropout_ensemble`` report's numbers and claims: every way of predicting scored over several
networks (mean ± standard deviation, n), each verdict computed from the means and their spread.

Runs of different networks are independent, so the spread of a difference of two means is the
root-sum-square of their standard deviations; the Monte-Carlo average and the one pass of the same
dropout network are a pair, so there it is the standard deviation of the per-network differences.
A side with a single run has no standard deviation: such a claim is not shown."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from practical_dl.project.reporting import Claim, Verdict

UNPAIRED = "spread: the root-sum-square of the two standard deviations"
PAIRED = "spread: the standard deviation of the per-network differences"


@dataclass(frozen=True)
class Spread:
    """A score over several runs: its mean, sample standard deviation (NaN for one run) and n."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        values = np.asarray(values, dtype=float)
        return cls(float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan, len(values))

    def stated(self, unit: str = "%") -> str:
        """``1.28 ± 0.05% (n = 3)``; one run: ``1.28% (n = 1)``."""
        return f"{self.mean:.2f} ± {self.std:.2f}{unit} (n = {self.n})" if self.n > 1 else f"{self.mean:.2f}{unit} (n = 1)"


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
        # NumPy, but its module imports torch: imported when scores are computed, not when the pipeline is built
        from practical_dl.methods.calibration import reliability

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


def errors(scores: Sequence[MethodScores]) -> Spread:
    """Test error (%) over several runs."""
    return Spread.of([s.error for s in scores])


def eces(scores: Sequence[MethodScores]) -> Spread:
    """ECE (%) over several runs."""
    return Spread.of([100 * s.ece for s in scores])


@dataclass(frozen=True)
class Comparison:
    """Every way of predicting, scored, each over several networks.

    Each plain network alone; ensembles of k plain networks, one per disjoint group of k (the
    first group: the first k networks); each dropout network in one pass (the weight-scaling rule)
    and its Monte-Carlo average of ``samples`` passes."""

    singles: list[MethodScores]
    ensembles: dict[int, list[MethodScores]]
    """By k, the ensemble sizes (1 included), in increasing order: one score per disjoint group."""
    weight_scaling: list[MethodScores]
    mc: list[MethodScores]
    samples: int

    @property
    def sizes(self) -> list[int]:
        return list(self.ensembles)

    @property
    def smallest_ensemble(self) -> int:
        """The smallest ensemble of more than one network (the largest size when there is none)."""
        return min((k for k in self.sizes if k > 1), default=max(self.sizes))

    @property
    def largest_repeated_ensemble(self) -> int:
        """The largest ensemble size scored on at least two disjoint groups (else the largest)."""
        return max((k for k in self.sizes if k > 1 and len(self.ensembles[k]) > 1), default=max(self.sizes))


def from_difference(statement: str, ours: Spread, theirs: Spread, evidence: str) -> Claim:
    """A claim that ``ours`` is lower than ``theirs`` (an error, an ECE), weighed against the root-sum-square
    of the two standard deviations; not shown when either side is one run."""
    margin = theirs.mean - ours.mean
    if ours.n < 2 or theirs.n < 2:
        return Claim(statement, Verdict.NOT_SHOWN, f"{evidence}; one run on a side: no spread to weigh {margin:+.2f} against", margin)
    spread = math.hypot(ours.std, theirs.std)
    return Claim.from_margin(statement, margin, spread, f"{evidence}; {UNPAIRED}, {spread:.2f}")


def _dropout_beats_one_claim(c: Comparison) -> Claim:
    single = errors(c.singles)
    return from_difference(
        "Dropout improves on one network trained without it",
        errors(c.weight_scaling),
        single,
        f"{errors(c.weight_scaling).stated()} against {single.stated()} (the {single.n} networks: "
        f"{min(s.error for s in c.singles):.2f}–{max(s.error for s in c.singles):.2f}%)",
    )


def _dropout_matches_ensemble_claim(c: Comparison) -> Claim:
    dropout = errors(c.weight_scaling)
    matched = [k for k in c.sizes if errors(c.ensembles[k]).mean >= dropout.mean]
    if matched and max(matched) > 1:
        found = f"on average it is as accurate as an ensemble of {max(matched)} (one training instead of {max(matched)})"
    else:
        found = (
            "on average it beats one network alone, not an ensemble" if matched else "on average even one network alone is more accurate"
        )
    k = c.smallest_ensemble
    return from_difference(
        "One dropout network is as accurate as an ensemble of independently trained networks",
        dropout,
        errors(c.ensembles[k]),
        f"{found}; dropout {dropout.stated()}, ensembles of "
        + ", ".join(f"{size}: {errors(c.ensembles[size]).stated()}" for size in c.sizes),
    )


def _mc_dropout_claim(c: Comparison) -> Claim:
    statement = (
        f"Averaging {c.samples} thinned networks at test time (MC dropout) is at least as accurate as the one pass of the "
        "weight-scaling rule"
    )
    gains = Spread.of([w.error - m.error for w, m in zip(c.weight_scaling, c.mc)])
    evidence = (
        f"{errors(c.mc).stated()} against {errors(c.weight_scaling).stated()}, one pass minus MC per network {gains.stated(' points')}"
    )
    if gains.n < 2:
        return Claim(statement, Verdict.NOT_SHOWN, f"{evidence}; one dropout network: no spread to weigh it against", gains.mean)
    return Claim.from_margin(statement, gains.mean, gains.std, f"{evidence}; {PAIRED}")


def _calibration_claim(c: Comparison) -> Claim:
    k = c.largest_repeated_ensemble
    return from_difference(
        "Averaging networks makes the probabilities better calibrated (lower ECE than one network)",
        eces(c.ensembles[k]),
        eces(c.singles),
        f"ECE of an ensemble of {k}: {eces(c.ensembles[k]).stated()}, one network: {eces(c.singles).stated()}; "
        f"dropout one pass {eces(c.weight_scaling).stated()}, MC dropout {eces(c.mc).stated()}",
    )


def check_dropout_ensemble_claims(comparison: Comparison) -> list[Claim]:
    """The lecture's claims about dropout as an ensemble, each verdict from the means and their spread."""
    return [
        _dropout_beats_one_claim(comparison),
        _dropout_matches_ensemble_claim(comparison),
        _mc_dropout_claim(comparison),
        _calibration_claim(comparison),
    ]

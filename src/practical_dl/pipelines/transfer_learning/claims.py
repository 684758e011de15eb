"""The ``transfer_learning`` report's numbers: each strategy's accuracy on each budget over its seeds
(mean ± standard deviation, n) and the lecture's claims, their verdicts computed from them.

A seed draws a run's labelled images, the same for every strategy, so two strategies' runs on one
seed are a pair: transfer's gain over training from scratch is measured seed by seed, and its
spread is the standard deviation of those per-seed gains (the subset's luck cancels in each pair)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from practical_dl.project.reporting import Claim, Verdict, metric_history

#: The strategies that transfer; the better of them (by mean accuracy) is weighed against ``scratch``.
TRANSFER = ("fine_tune", "feature_extract")


def accuracy_by_seed(table: pd.DataFrame) -> pd.DataFrame:
    """Target test accuracy (%) of every run: rows (labelled images per class, seed), one column per
    strategy (NaN where a strategy did not run on that seed). ``table``: one row per run."""
    return table.pivot_table(index=["per_class", "seed"], columns="strategy", values="target_test_accuracy").mul(100)


def spread_over_seeds(by_seed: pd.DataFrame) -> pd.DataFrame:
    """Per strategy and labelled images per class: the ``mean`` accuracy (%), its ``std`` (the sample
    standard deviation over the seeds; NaN with one seed) and ``n``, the number of seeds."""
    runs = by_seed.rename_axis(columns="strategy").stack().dropna().rename("accuracy").reset_index()
    summary = runs.groupby(["strategy", "per_class"])["accuracy"].agg(mean="mean", std="std", n="count").reset_index()
    return summary.astype({"n": int})


def mean_std(mean: float, std: float, n: int) -> str:
    """``91.83 ± 0.52 (n = 3)``; one run: ``91.83 (n = 1)``."""
    return f"{mean:.2f} ± {std:.2f} (n = {n})" if n > 1 else f"{mean:.2f} (n = {n})"


def mean_std_table(summary: pd.DataFrame) -> str:
    """The accuracy table in markdown: labelled images per class (rows) by strategy (columns), each cell mean ± standard deviation (n)."""
    cells = summary.assign(cell=[mean_std(m, s, n) for m, s, n in zip(summary["mean"], summary["std"], summary["n"])])
    return cells.pivot(index="per_class", columns="strategy", values="cell").to_markdown()


def spread_metrics(summary: pd.DataFrame) -> dict[str, list[dict[str, float]]]:
    """For MLflow: per strategy its mean accuracy, standard deviation (where n > 1) and n, each a history over labelled images per class."""
    metrics: dict[str, list[dict[str, float]]] = {}
    for strategy, rows in summary.groupby("strategy"):
        rows = rows.sort_values("per_class")
        metrics[f"{strategy}.accuracy_mean"] = metric_history(zip(rows["per_class"], rows["mean"]))
        metrics[f"{strategy}.seeds"] = metric_history(zip(rows["per_class"], rows["n"]))
        spread = rows[rows["n"] > 1]
        if not spread.empty:
            metrics[f"{strategy}.accuracy_std"] = metric_history(zip(spread["per_class"], spread["std"]))
    return metrics


@dataclass(frozen=True)
class Gain:
    """Transfer's gain over training from scratch on one budget, seed by seed (points of accuracy)."""

    per_class: int
    strategy: str
    """The transferring strategy with the higher mean accuracy on this budget."""
    transfer: pd.Series
    """Its accuracy (%) on each seed both it and scratch ran."""
    scratch: pd.Series
    """Scratch's accuracy (%) on the same seeds."""

    @property
    def per_seed(self) -> pd.Series:
        return self.transfer - self.scratch

    @property
    def n(self) -> int:
        return len(self.per_seed)

    @property
    def mean(self) -> float:
        return float(self.per_seed.mean())

    @property
    def std(self) -> float:
        """The standard deviation of the per-seed gains (NaN with one seed): the spread the mean gain is weighed against."""
        return float(self.per_seed.std()) if self.n > 1 else math.nan

    def accuracies(self) -> str:
        """``fine_tune 91.83 ± 0.52% against 81.01 ± 1.20% from scratch`` (mean ± standard deviation over the seeds)."""
        t, s = self.transfer, self.scratch
        spread = (lambda v: f" ± {v.std():.2f}%") if self.n > 1 else (lambda v: "%")
        return f"{self.strategy} {t.mean():.2f}{spread(t)} against {s.mean():.2f}{spread(s)} from scratch"

    def stated(self) -> str:
        """``+10.82 ± 1.10 points (n = 3)``: the mean gain and the standard deviation of the per-seed gains."""
        return f"{self.mean:+.2f} ± {self.std:.2f} points (n = {self.n})" if self.n > 1 else f"{self.mean:+.2f} points (n = 1)"


def gain_over_scratch(by_seed: pd.DataFrame, per_class: int) -> Gain | None:
    """Transfer's gain over scratch with ``per_class`` labelled images, paired by seed; None without scratch or a transferring strategy."""
    rows = by_seed.loc[per_class]
    transfer = [s for s in TRANSFER if s in rows.columns and rows[s].notna().any()]
    if "scratch" not in rows.columns or not transfer:
        return None
    best = max(transfer, key=lambda s: rows[s].mean())
    paired = rows[[best, "scratch"]].dropna()
    if paired.empty:
        return None
    return Gain(int(per_class), best, paired[best], paired["scratch"])


def transfer_claims(by_seed: pd.DataFrame) -> list[Claim]:
    """The lecture's claims on transfer from the accuracy (%) of every run (:func:`accuracy_by_seed`).

    That transfer helps when labels are few is weighed against the spread: it holds when the mean
    per-seed gain over scratch exceeds the standard deviation of the per-seed gains, is contradicted
    below minus it, and is not shown between — nor with one seed, which has no spread. That it helps
    less once labels are plentiful compares the mean gains at the largest and smallest budgets."""
    if by_seed.empty:
        return []
    budgets = by_seed.index.get_level_values("per_class")
    few, most = int(budgets.min()), int(budgets.max())
    gain = gain_over_scratch(by_seed, few)
    if gain is None:
        return []
    statement = f"Transfer helps when labels are few: with {few} labelled images per class it beats training from scratch"
    evidence = f"{gain.accuracies()}: a gain of {gain.stated()}"
    if gain.n > 1:
        spread = "spread: the standard deviation of the per-seed gains, each seed's runs on the same labelled images"
        claims = [Claim.from_margin(statement, gain.mean, gain.std, f"{evidence}; {spread}")]
    else:
        claims = [Claim(statement, Verdict.NOT_SHOWN, f"{evidence}, one seed: no spread to weigh it against", margin=gain.mean)]
    plentiful = gain_over_scratch(by_seed, most) if most != few else None
    if plentiful is not None:
        claims.append(
            Claim.check(
                f"It helps less once labels are plentiful: its mean gain with {most} per class is smaller than with {few}",
                plentiful.mean < gain.mean,
                f"{plentiful.stated()} against {gain.stated()}",
            )
        )
    return claims

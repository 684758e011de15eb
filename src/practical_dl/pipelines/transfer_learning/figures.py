"""Figures of the ``transfer_learning`` pipeline."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from practical_dl.project.figures import plt


def transfer_figure(summary: pd.DataFrame) -> Figure:
    """Target test accuracy against labelled images per class, one line per strategy: the mean over
    the seeds, error bars ± one standard deviation where a budget ran on several seeds.

    ``summary``: one row per strategy and budget, columns ``strategy``, ``per_class``, ``mean``,
    ``std`` and ``n`` (:func:`practical_dl.pipelines.transfer_learning.claims.spread_over_seeds`)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for strategy, rows in summary.groupby("strategy"):
        rows = rows.sort_values("per_class")
        ax.errorbar(
            rows["per_class"],
            rows["mean"],
            yerr=rows["std"].where(rows["n"] > 1, 0.0),
            fmt="o-",
            capsize=3,
            label=strategy.replace("_", " "),
        )
    seeds = sorted(set(summary.loc[summary["n"] > 1, "n"]))
    over = f"mean ± standard deviation over {'/'.join(map(str, seeds))} seeds" if seeds else "one seed"
    ax.set(
        xscale="log",
        xlabel="labelled target images per class",
        ylabel=f"target test accuracy (%)\n{over}",
        title="Transfer learning: how much labelled data it saves",
    )
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return fig

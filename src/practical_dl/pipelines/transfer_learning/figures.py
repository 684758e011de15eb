"""Figures of the ``transfer_learning`` pipeline."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from practical_dl.project.figures import plt


def transfer_figure(table: pd.DataFrame) -> Figure:
    """Target test accuracy against labelled images per class, one line per strategy."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for strategy, rows in table.groupby("strategy"):
        rows = rows.sort_values("per_class")
        ax.plot(rows["per_class"], 100 * rows["target_test_accuracy"], "o-", label=strategy.replace("_", " "))
    ax.set(
        xscale="log",
        xlabel="labelled target images per class",
        ylabel="target test accuracy (%)",
        title="Transfer learning: how much labelled data it saves",
    )
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return fig

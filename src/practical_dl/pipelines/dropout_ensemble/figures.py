"""Figures of the ``dropout_ensemble`` pipeline."""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from practical_dl.pipelines.dropout_ensemble.claims import Spread
from practical_dl.project.figures import plt


def _std(spread: Spread) -> float:
    return spread.std if spread.n > 1 and math.isfinite(spread.std) else 0.0


def dropout_ensemble_figure(
    ensemble_errors: dict[int, Spread], dropout_errors: dict[str, Spread], reliabilities: dict[str, dict]
) -> Figure:
    """Test error against the networks averaged, and the reliability diagram.

    Left: test error against the number of networks averaged (mean ± standard deviation over the
    disjoint groups of k, error bars), the dropout networks' mean as horizontal lines in a band of
    ± one standard deviation. Right: reliability diagram (accuracy against confidence, per bin
    with images) of the first network of each kind."""
    fig, (ax, ax_rel) = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    ks = sorted(ensemble_errors)
    ax.errorbar(
        ks,
        [ensemble_errors[k].mean for k in ks],
        yerr=[_std(ensemble_errors[k]) for k in ks],
        fmt="o-",
        capsize=3,
        color="black",
        label="ensemble of k networks without dropout (mean ± std over groups)",
    )
    for (name, error), colour in zip(dropout_errors.items(), plt.cm.tab10.colors[1:]):
        ax.axhline(error.mean, color=colour, ls="--", label=f"{name}: {error.stated()}")
        if _std(error):
            ax.axhspan(error.mean - error.std, error.mean + error.std, color=colour, alpha=0.15)
    ax.set(xscale="log", xlabel="networks averaged (k)", ylabel="test error (%)", title="Test error")
    ax.xaxis.set_minor_locator(plt.NullLocator())  # the log axis's own minor labels would overlap
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax_rel.plot([0, 1], [0, 1], color="grey", lw=1, label="calibrated")
    for (name, rel), colour in zip(reliabilities.items(), plt.cm.tab10.colors):
        used = [i for i, c in enumerate(rel["count"]) if c > 0]
        ax_rel.plot(
            [rel["confidence"][i] for i in used],
            [rel["accuracy"][i] for i in used],
            "o-",
            markersize=3,
            color=colour,
            label=f"{name} (ECE {100 * rel['ece']:.2f}%)",
        )
    ax_rel.set(
        xlabel="confidence (mean of the bin)",
        ylabel="accuracy in the bin",
        xlim=(0, 1.02),
        ylim=(0, 1.02),
        title="Reliability diagram (test split)",
    )
    ax_rel.grid(alpha=0.3)
    ax_rel.legend(fontsize=8, loc="upper left")
    return fig

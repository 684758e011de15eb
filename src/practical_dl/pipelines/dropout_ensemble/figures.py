"""Figures of the ``dropout_ensemble`` pipeline."""

from __future__ import annotations

from matplotlib.figure import Figure

from practical_dl.project.figures import plt


def dropout_ensemble_figure(ensemble_errors: dict[int, float], dropout_errors: dict[str, float], reliabilities: dict[str, dict]) -> Figure:
    """Test error against the networks averaged, and the reliability diagram.

    Left: test error against the number of networks averaged, the dropout network's as horizontal
    lines. Right: reliability diagram (accuracy against confidence, per bin with images)."""
    fig, (ax, ax_rel) = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    ks = sorted(ensemble_errors)
    ax.plot(ks, [ensemble_errors[k] for k in ks], "o-", color="black", label="ensemble of k networks without dropout")
    for (name, error), colour in zip(dropout_errors.items(), plt.cm.tab10.colors[1:]):
        ax.axhline(error, color=colour, ls="--", label=f"{name}: {error:.2f}%")
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

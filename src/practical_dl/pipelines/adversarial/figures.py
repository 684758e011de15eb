"""Figures of the ``adversarial`` pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from practical_dl.project.figures import plt

if TYPE_CHECKING:  # the nodes draw with this module's figure
    from practical_dl.pipelines.adversarial.nodes import AttackResult


def accuracy_under_attack_figure(results: Sequence[AttackResult]) -> Figure:
    """Accuracy against epsilon: one colour per model, one line style per attack."""
    fig, ax = plt.subplots(figsize=(10, 5), layout="constrained")
    styles = ["-", "--", ":", "-."]
    attacks = list(dict.fromkeys(a for r in results for a in r.accuracy))
    for r, colour in zip(results, plt.cm.tab10.colors):
        for attack, accs in r.accuracy.items():
            ax.plot(
                r.epsilons,
                [100 * a for a in accs],
                styles[attacks.index(attack) % len(styles)],
                marker="o",
                markersize=3,
                color=colour,
                label=f"{r.label} {attack.upper()}",
            )
    ax.set(xlabel="ε (L∞, pixel intensities in [0, 1])", ylabel="test accuracy (%)", ylim=(-2, 102), title="Accuracy under attack")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside the axes: inside it would hide curves
    return fig

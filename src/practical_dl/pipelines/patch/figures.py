"""Figures of the ``patch`` pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from practical_dl.project.figures import plt

if TYPE_CHECKING:  # the nodes draw with this module's figure
    from practical_dl.pipelines.patch.nodes import PatchResult


def patch_success_figure(results: Sequence[PatchResult], bar: dict) -> Figure:
    """Targeted success against the patch's side: one colour per model, the optimised patch solid,
    a patch of random pixels dotted; the bar (at most ``max_size`` pixels, ``success_percent``) shaded."""
    fig, ax = plt.subplots(figsize=(10, 5), layout="constrained")
    for r, colour in zip(results, plt.cm.tab10.colors):
        ax.plot(r.sizes, [100 * a for a in r.success], "-o", markersize=4, color=colour, label=f"{r.label}")
        ax.plot(r.sizes, [100 * a for a in r.random_patch_success], ":", color=colour, alpha=0.7, label=f"{r.label}, random pixels")
    if bar:
        ax.fill_between([0, bar["max_size"]], bar["success_percent"], 100, color="green", alpha=0.08, label="the bar")
    target = results[0].target if results else "?"
    ax.set(
        xlabel="side of the square patch (pixels, on 28x28 digits)",
        ylabel=f"test digits called {target} (%)",
        ylim=(-2, 102),
        xlim=(0, max((r.sizes[-1] for r in results), default=16) + 1),
        title=f"A patch asking for {target}, pasted at a random position",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig

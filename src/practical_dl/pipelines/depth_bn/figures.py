"""Figures of the ``depth_bn`` pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from practical_dl.project.figures import plt

if TYPE_CHECKING:  # the nodes draw with this module's figure
    from practical_dl.pipelines.depth_bn.nodes import DepthMemberSummary


def depth_bn_figure(results: Sequence[DepthMemberSummary]) -> Figure:
    """Test error against depth, training loss per epoch and gradient norms per layer, side by side.

    Left: test error against depth, without (dashed) and with (solid) batch norm, one colour per
    learning rate. Middle: training loss per epoch at the lowest learning rate, one colour per
    depth. Right: gradient norm of every convolution before training (input first), same colours."""
    fig, (ax_err, ax_loss, ax_grad) = plt.subplots(1, 3, figsize=(17, 5), layout="constrained")
    depths = sorted({r.depth for r in results})
    factors = sorted({r.lr_factor for r in results})
    by = {(r.depth, r.batch_norm, r.lr_factor): r for r in results}
    for factor, colour in zip(factors, plt.cm.tab10.colors):
        for bn, style in ((False, "--"), (True, "-")):
            runs = [by[(d, bn, factor)] for d in depths]
            errors = [100.0 if r.diverged or not np.isfinite(r.test_error_percent) else r.test_error_percent for r in runs]
            label = f"lr {runs[0].lr:g}, {'with' if bn else 'without'} batch norm"
            ax_err.plot(depths, errors, style, marker="o", color=colour, label=label)
    ax_err.axhline(90, color="grey", lw=1, ls=":", label="chance (diverged: drawn at 100)")
    ax_err.set(xscale="log", xlabel="convolutional layers", ylabel="test error (%)", yscale="log", title="Test error against depth")
    ax_err.xaxis.set_minor_locator(plt.NullLocator())  # the log axis's own minor labels would overlap
    ax_err.set_xticks(depths, [str(d) for d in depths])
    ax_err.legend(fontsize=7)
    colours = dict(zip(depths, plt.cm.viridis(np.linspace(0, 0.9, len(depths)))))
    for d in depths:
        for bn, style in ((False, "--"), (True, "-")):
            r = by[(d, bn, factors[0])]
            rows = [row for row in r.history if "train_loss" in row]
            ax_loss.plot(
                [row["epoch"] for row in rows],
                [row["train_loss"] for row in rows],
                style,
                marker="o",
                markersize=3,
                color=colours[d],
                label=f"{d} layers{' + BN' if bn else ''}",
            )
            norms = r.norms_before_training
            ax_grad.plot(range(1, len(norms) + 1), norms, style, color=colours[d], label=f"{d} layers{' + BN' if bn else ''}")
    ax_loss.set(
        xlabel="epoch",
        ylabel="training loss",
        yscale="log",
        title=f"Training loss (lr {by[(depths[0], False, factors[0])].lr:g}); dashed: no batch norm",
    )
    ax_loss.legend(fontsize=7, ncol=2)
    ax_grad.set(
        xlabel="convolution (1 = nearest the input)",
        ylabel="gradient norm of its weights",
        yscale="log",
        title="Gradient norms before training",
    )
    ax_grad.legend(fontsize=7, ncol=2)
    for ax in (ax_err, ax_loss, ax_grad):
        ax.grid(alpha=0.3, which="both")
    return fig

"""Figures of the ``batch_lr`` pipeline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from practical_dl.project.figures import plt


def batch_lr_figure(batch_sizes: Sequence[int], lrs: Sequence[float], error: np.ndarray, seconds_per_epoch: np.ndarray) -> Figure:
    """Left: test error (%) of every (batch size, learning rate) pair as a heat map on a log colour
    scale, each cell labelled, diverged cells marked, the best learning rate of each batch size
    framed. Right: seconds per epoch against the batch size."""
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    fig, (ax, ax_time) = plt.subplots(1, 2, figsize=(13, 5), width_ratios=(1.6, 1), layout="constrained")
    finite = error[np.isfinite(error)]
    norm = LogNorm(vmin=max(float(finite.min()), 0.1) if finite.size else 0.1, vmax=max(float(finite.max()), 1.0) if finite.size else 100.0)
    image = ax.imshow(np.where(np.isfinite(error), np.maximum(error, norm.vmin), np.nan), cmap="viridis_r", norm=norm, aspect="auto")
    ax.set_facecolor("lightgrey")  # diverged: no error to show
    for i in range(error.shape[0]):
        row = error[i]
        for j in range(error.shape[1]):
            text = "diverged" if not np.isfinite(row[j]) else f"{row[j]:.1f}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="black" if not np.isfinite(row[j]) or row[j] < norm.vmax / 3 else "white",
            )
        if np.isfinite(row).any():
            best = int(np.nanargmin(row))
            ax.add_patch(Rectangle((best - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
    ax.set_yticks(range(len(batch_sizes)), [str(b) for b in batch_sizes])
    ax.set(xlabel="learning rate", ylabel="batch size", title="Test error (%) with the same images seen; red: best per batch size")
    fig.colorbar(image, ax=ax, label="test error (%)")
    ax_time.plot(batch_sizes, seconds_per_epoch, "o-")
    ax_time.set(xscale="log", xlabel="batch size", ylabel="seconds per epoch", ylim=(0, None), title="Time per epoch")
    ax_time.xaxis.set_minor_locator(plt.NullLocator())  # the log axis's own minor labels would overlap
    ax_time.set_xticks(list(batch_sizes), [str(b) for b in batch_sizes])
    ax_time.grid(alpha=0.3)
    return fig

"""Figures of the ``evaluation`` pipeline: training curves and learned kernels."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from practical_dl.project.figures import plt


def training_curves_figure(histories: dict[str, pd.DataFrame]) -> Figure:
    """Loss and error per epoch, training dashed and validation solid, one colour per model."""
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    for (label, h), colour in zip(histories.items(), plt.cm.tab10.colors):
        ax_loss.plot(h["epoch"], h["train_loss"], "--", color=colour, label=f"{label} train")
        ax_err.plot(h["epoch"], 100 * (1 - h["train_accuracy"]), "--", color=colour, label=f"{label} train")
        if "val_loss" in h:
            ax_loss.plot(h["epoch"], h["val_loss"], "-", color=colour, label=f"{label} validation")
            ax_err.plot(h["epoch"], 100 * (1 - h["val_accuracy"]), "-", color=colour, label=f"{label} validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", yscale="log", title="Loss")
    ax_err.set(xlabel="epoch", ylabel="error (%)", yscale="log", title="Error")
    ax_err.legend(fontsize=7, ncol=2)
    for ax in (ax_loss, ax_err):
        ax.grid(alpha=0.3, which="both")
    return fig


def kernels_figure(weights: np.ndarray, title: str) -> Figure:
    """First-layer convolution kernels ``K x C x h x w`` (first input channel), each scaled to its own range."""
    k = weights.shape[0]
    columns = min(10, k)
    rows = int(np.ceil(k / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.0, rows * 1.0 + 0.5), layout="constrained", squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < k:
            ax.imshow(weights[i, 0], cmap="RdBu_r", vmin=-np.abs(weights[i, 0]).max(), vmax=np.abs(weights[i, 0]).max())
            ax.set_title(str(i), fontsize=7)
    fig.suptitle(title)
    return fig


def feature_maps_figure(image: np.ndarray, maps: np.ndarray, title: str) -> Figure:
    """An input digit followed by the feature maps ``K x h x w`` it produces."""
    k = maps.shape[0]
    columns = 11
    rows = int(np.ceil((k + 1) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.0, rows * 1.05 + 0.5), layout="constrained", squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i == 0:
            ax.imshow(image.squeeze(), cmap="gray_r")
            ax.set_title("input", fontsize=7)
        elif i <= k:
            ax.imshow(maps[i - 1], cmap="viridis")
            ax.set_title(str(i - 1), fontsize=7)
    fig.suptitle(title)
    return fig

"""Figures of the project (matplotlib, no display needed). Each returns a ``Figure`` that the
catalog saves as PNG and logs to MLflow."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def confusion_matrix_figure(matrix: np.ndarray, title: str, class_names: Sequence[str] | None = None) -> Figure:
    """Counts of (true, predicted) pairs, with the counts written in the cells."""
    n = matrix.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    fig, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    # log colour scale so that the few errors off the diagonal are visible
    im = ax.imshow(np.log1p(matrix), cmap="Blues")
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                colour = "white" if matrix[i, j] > matrix.max() / 4 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=colour)
    ax.set(xticks=range(n), yticks=range(n), xticklabels=names, yticklabels=names, xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(im, ax=ax, label="log(1 + count)")
    return fig


def image_grid_figure(
    images: np.ndarray, captions: Sequence[str], title: str, columns: int = 10, caption_colours: Sequence[str] | None = None
) -> Figure:
    """A grid of grey ``N x 1 x H x W`` (or ``N x H x W``) uint8 images with a caption under each."""
    images = images[:, 0] if images.ndim == 4 else images
    n = len(images)
    rows = max(1, int(np.ceil(n / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.35 + 0.4), layout="constrained", squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(images[k], cmap="gray_r", vmin=0, vmax=255)
            ax.set_title(captions[k], fontsize=8, color=(caption_colours[k] if caption_colours else "black"))
    fig.suptitle(title)
    return fig


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


def close(fig: Figure) -> None:
    plt.close(fig)

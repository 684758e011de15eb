"""Figures that several pipelines draw (image grids, confusion matrices, adversarial examples)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # figures are saved by the catalog, never shown: no GUI backend, also in worker threads

import matplotlib.pyplot as plt  # noqa: E402  (the pipelines' figures modules import it from here)
import numpy as np  # noqa: E402
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


def close(fig: Figure) -> None:
    plt.close(fig)


def image_rows_figure(rows: Sequence[tuple[str, np.ndarray, Sequence[str], Sequence[str] | None]], title: str) -> Figure:
    """Rows of grey uint8 images, each row named on its left, each image with a caption (and colour)."""
    columns = max(len(images) for _, images, _, _ in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(columns * 0.95 + 1.4, len(rows) * 1.1 + 0.5), layout="constrained", squeeze=False)
    for (name, images, captions, colours), row in zip(rows, axes):
        images = images[:, 0] if images.ndim == 4 else images
        for k, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if k >= len(images):
                ax.axis("off")
                continue
            ax.imshow(images[k], cmap="gray_r", vmin=0, vmax=255)
            if captions:
                ax.set_title(captions[k], fontsize=8, color=colours[k] if colours else "black", pad=2)
        row[0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=10)
    return fig


def adversarial_examples_figure(rows: Sequence[tuple[str, np.ndarray, np.ndarray]], labels: np.ndarray, title: str) -> Figure:
    """Rows of the same digits (clean, then attacked), each captioned with the prediction, red when wrong."""
    return image_rows_figure(
        [
            (name, images, [str(p) for p in predicted], ["black" if p == t else "firebrick" for p, t in zip(predicted, labels)])
            for name, images, predicted in rows
        ],
        title,
    )

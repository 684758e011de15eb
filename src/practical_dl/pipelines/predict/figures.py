"""Figures of the ``predict`` pipeline."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from practical_dl.project.figures import plt


def contact_sheet_figure(rows: Sequence[dict], class_names: Sequence[str], title: str) -> Figure:
    """One row per image: the image as given | as the network sees it (28x28) | the class
    probabilities of every model as bars (or the reason the image could not be predicted).

    Each row is ``{"name", "original" (H x W [x 3] uint8 or None), "prepared" (28 x 28 uint8 or
    None), "probabilities" ({model label: probabilities}), "reason"}``.
    """
    n = max(len(rows), 1)
    fig, axes = plt.subplots(
        n, 3, figsize=(10, 1.9 * n + 0.6), squeeze=False, gridspec_kw={"width_ratios": [1, 1, 3.2]}, layout="constrained"
    )
    colours = plt.get_cmap("tab10")
    x = np.arange(len(class_names))
    for r, row in enumerate(rows):
        given, seen, bars = axes[r]
        for ax in (given, seen):
            ax.set(xticks=[], yticks=[])
        if row.get("original") is not None:
            given.imshow(row["original"], cmap="gray" if np.asarray(row["original"]).ndim == 2 else None)
        given.set_title("\n".join(textwrap.wrap(str(row["name"]), 22, break_on_hyphens=False)[:2]), fontsize=7)
        if row.get("prepared") is not None:
            seen.imshow(row["prepared"], cmap="gray", vmin=0, vmax=255)
            seen.set_title("as the network sees it", fontsize=8)
        probabilities = row.get("probabilities") or {}
        if not probabilities:
            bars.axis("off")
            bars.text(0.02, 0.5, f"not predicted: {row.get('reason', '')}", color="firebrick", fontsize=9, va="center", wrap=True)
            given.axis("off") if row.get("original") is None else None
            seen.axis("off")
            continue
        width = 0.8 / len(probabilities)
        for k, (label, p) in enumerate(probabilities.items()):
            top = int(np.argmax(p))
            bars.bar(
                x + (k - (len(probabilities) - 1) / 2) * width,
                p,
                width,
                color=colours(k),
                label=f"{label}: {class_names[top]} ({p[top]:.0%})",
            )
        bars.set(xticks=x, xticklabels=class_names, ylim=(0, 1.02), yticks=[0, 0.5, 1])
        bars.tick_params(labelsize=7)
        bars.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig

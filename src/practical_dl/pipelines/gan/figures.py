"""Figures of the ``gan`` pipeline."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from practical_dl.project.figures import plt


def gan_training_figure(history: pd.DataFrame, real_inception_score: float | None = None) -> Figure:
    """Losses, the discriminator's outputs, and the classifier-based scores per epoch."""
    fig, (ax_loss, ax_d, ax_is, ax_fd) = plt.subplots(1, 4, figsize=(16, 4), layout="constrained")
    ax_loss.plot(history["epoch"], history["loss_d"], "o-", label="discriminator")
    ax_loss.plot(history["epoch"], history["loss_g"], "o-", label="generator")
    ax_loss.set(xlabel="epoch", ylabel="binary cross-entropy", title="Losses")
    ax_loss.legend(fontsize=8)
    ax_d.plot(history["epoch"], history["d_real"], "o-", label="D(x), real")
    ax_d.plot(history["epoch"], history["d_fake"], "o-", label="D(G(z)), generated")
    ax_d.set(xlabel="epoch", ylabel="mean output", ylim=(0, 1), title="Discriminator")
    ax_d.legend(fontsize=8)
    if "inception_score" in history:
        ax_is.plot(history["epoch"], history["inception_score"], "o-", label="generated")
        if real_inception_score is not None:
            ax_is.axhline(real_inception_score, color="grey", ls="--", label=f"real test set ({real_inception_score:.2f})")
        ax_is.legend(fontsize=8)
        ax_fd.plot(history["epoch"], history["frechet_distance"], "o-")
    ax_is.set(xlabel="epoch", ylabel="score (max 10)", title="Classifier-based Inception Score")
    ax_fd.set(xlabel="epoch", ylabel="distance", ylim=(0, None), title="Fréchet distance to the test set")
    for ax in (ax_loss, ax_d, ax_is, ax_fd):
        ax.grid(alpha=0.3)
    return fig

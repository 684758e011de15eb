"""Figures of the ``tricks`` pipeline's sweeps."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from practical_dl.project.figures import plt
from practical_dl.project.sweeps import MemberSummary


def _curve(result: MemberSummary, key: str) -> tuple[list[int], list[float]]:
    rows = [row for row in result.history if key in row]
    return [row["epoch"] for row in rows], [row[key] for row in rows]


def batch_size_figure(results: list[MemberSummary]) -> Figure:
    """Test error and seconds per epoch against batch size."""
    rs = sorted(results, key=lambda r: r.batch_size)
    sizes = [r.batch_size for r in rs]
    fig, (ax_err, ax_time) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    ax_err.plot(sizes, [r.test_error_percent for r in rs], "o-")
    ax_err.set(xscale="log", xlabel="batch size", ylabel="test error (%)", title="Test error after the same number of epochs")
    ax_time.plot(sizes, [r.seconds_per_epoch for r in rs], "o-", color="tab:orange")
    ax_time.set(xscale="log", xlabel="batch size", ylabel="seconds per epoch", title="Time per epoch", ylim=(0, None))
    for ax in (ax_err, ax_time):
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.grid(alpha=0.3, which="both")
    return fig


def learning_rate_figure(results: list[MemberSummary]) -> Figure:
    """Training loss per epoch for each learning rate; diverged runs end in a cross."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for r in sorted(results, key=lambda r: r.lr):
        epochs, loss = _curve(r, "train_loss")
        loss = [min(v, 1e3) if np.isfinite(v) else 1e3 for v in loss]  # clip the exploded values to stay on the plot
        label = f"lr {r.lr:g}" + (" (diverged)" if r.diverged else "")
        (line,) = ax.plot(epochs, loss, "o-", label=label)
        if r.diverged:
            ax.plot(epochs[-1], loss[-1], "x", color=line.get_color(), markersize=14, mew=3)
    ax.set(yscale="log", xlabel="epoch", ylabel="training loss (clipped at 1000)", title="Learning rate: factors of 10")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return fig


def train_validation_figure(results: list[MemberSummary], title: str) -> Figure:
    """Training (dashed) and validation (solid) error per epoch, one colour per member."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for r, colour in zip(results, plt.cm.tab10.colors):
        e, acc = _curve(r, "train_accuracy")
        ax.plot(e, [100 * (1 - a) for a in acc], "--", color=colour, label=f"{r.member} train")
        e, acc = _curve(r, "val_accuracy")
        ax.plot(e, [100 * (1 - a) for a in acc], "-", color=colour, label=f"{r.member} validation")
    ax.set(yscale="log", xlabel="epoch", ylabel="error (%)", title=title)
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return fig


def validation_error_figure(results: list[MemberSummary], title: str) -> Figure:
    """Validation error per epoch, one line per member."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for r in results:
        e, acc = _curve(r, "val_accuracy")
        ax.plot(e, [100 * (1 - a) for a in acc], "o-", label=str(r.member))
    ax.set(yscale="log", xlabel="epoch", ylabel="validation error (%)", title=title)
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return fig


def regression_figure(true: np.ndarray, predicted: np.ndarray, mae: float, baseline: float) -> Figure:
    """Predicted against true rotation angle (degrees)."""
    fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
    ax.scatter(true, predicted, s=3, alpha=0.4)
    lim = float(np.abs(true).max())
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=1, label="perfect")
    ax.set(
        xlabel="true angle (degrees)",
        ylabel="predicted angle (degrees)",
        title=f"Rotation regression: MAE {mae:.1f}° (predicting the mean: {baseline:.1f}°)",
    )
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def sweep_figure(sweep: str, results: list[MemberSummary]) -> Figure:
    """The picture of one sweep."""
    if sweep == "batch_size":
        return batch_size_figure(results)
    if sweep == "learning_rate":
        return learning_rate_figure(results)
    if sweep == "dropout":
        return train_validation_figure(results, "Dropout: training (dashed) and validation (solid) error")
    return validation_error_figure(results, f"{sweep.replace('_', ' ').capitalize()}: validation error per epoch")

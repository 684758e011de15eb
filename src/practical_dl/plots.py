"""Figures of the project (matplotlib, no display needed). Each returns a ``Figure`` that the
catalog saves as PNG and logs to MLflow."""

from __future__ import annotations

import textwrap
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


def results_table_figure(table: pd.DataFrame) -> Figure:
    """The results table (``results.csv``) as a picture: model, test error against the lecture's,
    parameters and epochs, the best error in bold."""
    columns = ["model", "test error (%)", "lecture error (%)", "parameters", "epochs"]  # no seconds: they depend on the machine
    shown = table[[c for c in columns if c in table.columns]].copy()
    if "test error (%)" in shown:  # 0.40, not 0.4
        shown["test error (%)"] = shown["test error (%)"].map(lambda e: f"{float(e):.2f}")
    if "parameters" in shown:
        shown["parameters"] = shown["parameters"].map(lambda n: f"{int(n):,}")
    fig, ax = plt.subplots(figsize=(8.0, 0.36 * (len(shown) + 1) + 0.45), layout="constrained")
    ax.axis("off")
    cells = ax.table(cellText=shown.astype(str).values, colLabels=list(shown.columns), loc="center", cellLoc="right", colLoc="right")
    cells.auto_set_font_size(False)
    cells.set_fontsize(11)
    cells.scale(1, 1.5)
    cells.auto_set_column_width(list(range(len(shown.columns))))
    best = shown["test error (%)"].astype(float).idxmin() if "test error (%)" in shown else None
    for (row, col), cell in cells.get_celld().items():
        cell.set_edgecolor("#cccccc")
        if col == 0:
            cell.set_text_props(ha="left")
        if row == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#f0f0f0")
        elif best is not None and row - 1 == shown.index.get_loc(best) and shown.columns[col] == "test error (%)":
            cell.set_text_props(weight="bold")
    ax.set_title("MNIST test error: this project against the lecture", fontsize=12)
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)


# --------------------------------------------------------------------------- tricks of the trade


def _curve(result: dict, key: str) -> tuple[list[int], list[float]]:
    rows = [r for r in result["history"] if key in r]
    return [r["epoch"] for r in rows], [r[key] for r in rows]


def batch_size_figure(results: list[dict]) -> Figure:
    """Test error and seconds per epoch against batch size."""
    rs = sorted(results, key=lambda r: r["batch_size"])
    sizes = [r["batch_size"] for r in rs]
    fig, (ax_err, ax_time) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    ax_err.plot(sizes, [r["test_error_percent"] for r in rs], "o-")
    ax_err.set(xscale="log", xlabel="batch size", ylabel="test error (%)", title="Test error after the same number of epochs")
    ax_time.plot(sizes, [r["seconds_per_epoch"] for r in rs], "o-", color="tab:orange")
    ax_time.set(xscale="log", xlabel="batch size", ylabel="seconds per epoch", title="Time per epoch", ylim=(0, None))
    for ax in (ax_err, ax_time):
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.grid(alpha=0.3, which="both")
    return fig


def learning_rate_figure(results: list[dict]) -> Figure:
    """Training loss per epoch for each learning rate; diverged runs end in a cross."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for r in sorted(results, key=lambda r: r["lr"]):
        epochs, loss = _curve(r, "train_loss")
        loss = [min(v, 1e3) if np.isfinite(v) else 1e3 for v in loss]  # clip the exploded values to stay on the plot
        label = f"lr {r['lr']:g}" + (" (diverged)" if r["diverged"] else "")
        (line,) = ax.plot(epochs, loss, "o-", label=label)
        if r["diverged"]:
            ax.plot(epochs[-1], loss[-1], "x", color=line.get_color(), markersize=14, mew=3)
    ax.set(yscale="log", xlabel="epoch", ylabel="training loss (clipped at 1000)", title="Learning rate: factors of 10")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return fig


def train_validation_figure(results: list[dict], title: str) -> Figure:
    """Training (dashed) and validation (solid) error per epoch, one colour per member."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for r, colour in zip(results, plt.cm.tab10.colors):
        e, acc = _curve(r, "train_accuracy")
        ax.plot(e, [100 * (1 - a) for a in acc], "--", color=colour, label=f"{r['member']} train")
        e, acc = _curve(r, "val_accuracy")
        ax.plot(e, [100 * (1 - a) for a in acc], "-", color=colour, label=f"{r['member']} validation")
    ax.set(yscale="log", xlabel="epoch", ylabel="error (%)", title=title)
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return fig


def validation_error_figure(results: list[dict], title: str) -> Figure:
    """Validation error per epoch, one line per member."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for r in results:
        e, acc = _curve(r, "val_accuracy")
        ax.plot(e, [100 * (1 - a) for a in acc], "o-", label=str(r["member"]))
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


def transfer_figure(table: pd.DataFrame) -> Figure:
    """Target test accuracy against labelled images per class, one line per strategy."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for strategy, rows in table.groupby("strategy"):
        rows = rows.sort_values("per_class")
        ax.plot(rows["per_class"], 100 * rows["target_test_accuracy"], "o-", label=strategy.replace("_", " "))
    ax.set(
        xscale="log",
        xlabel="labelled target images per class",
        ylabel="target test accuracy (%)",
        title="Transfer learning: how much labelled data it saves",
    )
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return fig


def accuracy_under_attack_figure(results: Sequence[dict]) -> Figure:
    """Accuracy against epsilon: one colour per model, one line style per attack."""
    fig, ax = plt.subplots(figsize=(10, 5), layout="constrained")
    styles = ["-", "--", ":", "-."]
    attacks = list(dict.fromkeys(a for r in results for a in r["accuracy"]))
    for r, colour in zip(results, plt.cm.tab10.colors):
        for attack, accs in r["accuracy"].items():
            ax.plot(
                r["epsilons"],
                [100 * a for a in accs],
                styles[attacks.index(attack) % len(styles)],
                marker="o",
                markersize=3,
                color=colour,
                label=f"{r['label']} {attack.upper()}",
            )
    ax.set(xlabel="ε (L∞, pixel intensities in [0, 1])", ylabel="test accuracy (%)", ylim=(-2, 102), title="Accuracy under attack")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside the axes: inside it would hide curves
    return fig


def patch_success_figure(results: Sequence[dict], bar: dict) -> Figure:
    """Targeted success against the patch's side: one colour per model, the optimised patch solid,
    a patch of random pixels dotted; the bar (at most ``max_size`` pixels, ``success_percent``) shaded."""
    fig, ax = plt.subplots(figsize=(10, 5), layout="constrained")
    for r, colour in zip(results, plt.cm.tab10.colors):
        ax.plot(r["sizes"], [100 * a for a in r["success"]], "-o", markersize=4, color=colour, label=f"{r['label']}")
        ax.plot(r["sizes"], [100 * a for a in r["random_patch_success"]], ":", color=colour, alpha=0.7, label=f"{r['label']}, random pixels")
    if bar:
        ax.fill_between([0, bar["max_size"]], bar["success_percent"], 100, color="green", alpha=0.08, label="the bar")
    target = results[0]["target"] if results else "?"
    ax.set(
        xlabel="side of the square patch (pixels, on 28x28 digits)",
        ylabel=f"test digits called {target} (%)",
        ylim=(-2, 102),
        xlim=(0, max((r["sizes"][-1] for r in results), default=16) + 1),
        title=f"A patch asking for {target}, pasted at a random position",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


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
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black" if not np.isfinite(row[j]) or row[j] < norm.vmax / 3 else "white")
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


def dropout_ensemble_figure(ensemble_errors: dict[int, float], dropout_errors: dict[str, float], reliabilities: dict[str, dict]) -> Figure:
    """Left: test error against the number of networks averaged, the dropout network's as
    horizontal lines. Right: reliability diagram (accuracy against confidence, per bin with images)."""
    fig, (ax, ax_rel) = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    ks = sorted(ensemble_errors)
    ax.plot(ks, [ensemble_errors[k] for k in ks], "o-", color="black", label="ensemble of k networks without dropout")
    for (name, error), colour in zip(dropout_errors.items(), plt.cm.tab10.colors[1:]):
        ax.axhline(error, color=colour, ls="--", label=f"{name}: {error:.2f}%")
    ax.set(xscale="log", xlabel="networks averaged (k)", ylabel="test error (%)", title="Test error")
    ax.xaxis.set_minor_locator(plt.NullLocator())  # the log axis's own minor labels would overlap
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax_rel.plot([0, 1], [0, 1], color="grey", lw=1, label="calibrated")
    for (name, rel), colour in zip(reliabilities.items(), plt.cm.tab10.colors):
        used = [i for i, c in enumerate(rel["count"]) if c > 0]
        ax_rel.plot([rel["confidence"][i] for i in used], [rel["accuracy"][i] for i in used], "o-", markersize=3, color=colour, label=f"{name} (ECE {100 * rel['ece']:.2f}%)")
    ax_rel.set(xlabel="confidence (mean of the bin)", ylabel="accuracy in the bin", xlim=(0, 1.02), ylim=(0, 1.02), title="Reliability diagram (test split)")
    ax_rel.grid(alpha=0.3)
    ax_rel.legend(fontsize=8, loc="upper left")
    return fig


def depth_bn_figure(results: Sequence[dict]) -> Figure:
    """Left: test error against depth, without (dashed) and with (solid) batch norm, one colour
    per learning rate. Middle: training loss per epoch at the lowest learning rate, one colour per
    depth. Right: gradient norm of every convolution before training (input first), same colours."""
    fig, (ax_err, ax_loss, ax_grad) = plt.subplots(1, 3, figsize=(17, 5), layout="constrained")
    depths = sorted({r["depth"] for r in results})
    factors = sorted({r["lr_factor"] for r in results})
    by = {(r["depth"], r["batch_norm"], r["lr_factor"]): r for r in results}
    for factor, colour in zip(factors, plt.cm.tab10.colors):
        for bn, style in ((False, "--"), (True, "-")):
            runs = [by[(d, bn, factor)] for d in depths]
            errors = [100.0 if r["diverged"] or not np.isfinite(r["test_error_percent"]) else r["test_error_percent"] for r in runs]
            ax_err.plot(depths, errors, style, marker="o", color=colour, label=f"lr {runs[0]['lr']:g}, {'with' if bn else 'without'} batch norm")
    ax_err.axhline(90, color="grey", lw=1, ls=":", label="chance (diverged: drawn at 100)")
    ax_err.set(xscale="log", xlabel="convolutional layers", ylabel="test error (%)", yscale="log", title="Test error against depth")
    ax_err.xaxis.set_minor_locator(plt.NullLocator())  # the log axis's own minor labels would overlap
    ax_err.set_xticks(depths, [str(d) for d in depths])
    ax_err.legend(fontsize=7)
    colours = dict(zip(depths, plt.cm.viridis(np.linspace(0, 0.9, len(depths)))))
    for d in depths:
        for bn, style in ((False, "--"), (True, "-")):
            r = by[(d, bn, factors[0])]
            rows = [row for row in r["history"] if "train_loss" in row]
            ax_loss.plot([row["epoch"] for row in rows], [row["train_loss"] for row in rows], style, marker="o", markersize=3, color=colours[d], label=f"{d} layers{' + BN' if bn else ''}")
            norms = r["gradient_norms"][0]["norms"]
            ax_grad.plot(range(1, len(norms) + 1), norms, style, color=colours[d], label=f"{d} layers{' + BN' if bn else ''}")
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title=f"Training loss (lr {by[(depths[0], False, factors[0])]['lr']:g}); dashed: no batch norm")
    ax_loss.legend(fontsize=7, ncol=2)
    ax_grad.set(xlabel="convolution (1 = nearest the input)", ylabel="gradient norm of its weights", yscale="log", title="Gradient norms before training")
    ax_grad.legend(fontsize=7, ncol=2)
    for ax in (ax_err, ax_loss, ax_grad):
        ax.grid(alpha=0.3, which="both")
    return fig


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


def contact_sheet_figure(rows: Sequence[dict], class_names: Sequence[str], title: str) -> Figure:
    """One row per image: the image as given | as the network sees it (28x28) | the class
    probabilities of every model as bars (or the reason the image could not be predicted).

    Each row is ``{"name", "original" (H x W [x 3] uint8 or None), "prepared" (28 x 28 uint8 or
    None), "probabilities" ({model label: probabilities}), "reason"}``.
    """
    n = max(len(rows), 1)
    fig, axes = plt.subplots(n, 3, figsize=(10, 1.9 * n + 0.6), squeeze=False, gridspec_kw={"width_ratios": [1, 1, 3.2]}, layout="constrained")
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
            bars.bar(x + (k - (len(probabilities) - 1) / 2) * width, p, width, color=colours(k), label=f"{label}: {class_names[top]} ({p[top]:.0%})")
        bars.set(xticks=x, xticklabels=class_names, ylim=(0, 1.02), yticks=[0, 0.5, 1])
        bars.tick_params(labelsize=7)
        bars.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig

"""``python -m practical_dl.tools.preprocess IMAGE``: prepare one image as MNIST was made."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from practical_dl.serving.preprocess import ImageRejected, PreparedDigit, prepare_digit


def preprocessing_steps_figure(prepared: PreparedDigit, title: str) -> Figure:
    """One panel per step of :func:`prepare_digit` (made with ``keep_steps=True``), captioned with
    the step's name and size; the last panel marks the central 20x20 box and the centre of mass."""
    if not prepared.steps:
        raise ValueError("no steps to show: call prepare_digit(..., keep_steps=True)")
    fig = Figure(figsize=(2.2 * len(prepared.steps), 3.3), layout="constrained")
    axes = fig.subplots(1, len(prepared.steps))
    for ax, (name, step) in zip(axes, prepared.steps.items()):
        ax.imshow(step, cmap="gray", vmin=0, vmax=255, interpolation="nearest" if max(step.shape[:2]) <= 64 else "antialiased")
        width, height = prepared.original_size if name == "as given" else (step.shape[1], step.shape[0])
        ax.set_title(f"{name}\n{width}x{height}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    final = prepared.image.astype(float)
    cy, cx = (final.sum(axis=1) @ np.arange(28)) / final.sum(), (final.sum(axis=0) @ np.arange(28)) / final.sum()
    axes[-1].add_patch(Rectangle((3.5, 3.5), 20, 20, fill=False, edgecolor="tab:orange", linestyle="--", linewidth=1))
    axes[-1].plot([cx], [cy], marker="+", color="red", markersize=10)
    axes[-1].set_xlabel("+ centre of mass, - - central 20x20", fontsize=7)
    fig.suptitle(title)
    return fig


def main(argv: list[str] | None = None) -> int:
    """``python -m practical_dl.tools.preprocess IMAGE [--figure STEPS.png]``: prepare one image, print
    the 28x28 result as text and optionally save the picture of every step."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m practical_dl.tools.preprocess", description=main.__doc__)
    parser.add_argument("image", type=Path)
    parser.add_argument("--figure", type=Path, help="where to save the picture of every step (PNG)")
    args = parser.parse_args(argv)
    try:
        prepared = prepare_digit(args.image.read_bytes(), keep_steps=args.figure is not None)
    except ImageRejected as exc:
        print(f"{args.image}: {exc.status}: {exc.reason}")
        return 1
    print("\n".join("".join(" .:-=+*#%@"[min(9, int(v) * 10 // 256)] * 2 for v in row) for row in prepared.image))
    if args.figure is not None:
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        preprocessing_steps_figure(prepared, f"{args.image.name}: prepared the way MNIST was made").savefig(args.figure, dpi=100)
        print(f"steps: {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

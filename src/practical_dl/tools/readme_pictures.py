"""The README's first-screen pictures, redrawn from what the pipelines wrote::

    python -m practical_dl.tools.readme_pictures [--reporting data/08_reporting] [--out docs] [--width 760]

(``make docs``), after ``kedro run``, ``kedro run --pipelines adversarial`` and ``kedro run
--pipelines gan``. Writes small PNGs into ``docs/``: the results table (drawn from
``results.csv``), and the training curves, one model's adversarial examples and the DCGAN's
samples (the pipelines' own plots, scaled to ``width`` pixels); the pictures of
docs/lecture-claims.md (``depth_bn``, ``batch_lr``, ``dropout_ensemble``, ``patch``) where those
pipelines have run. A missing input is named with the command that makes it; nothing is drawn by
hand.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from practical_dl.project.figures import close, plt

logger = logging.getLogger(__name__)

#: picture in docs/ -> (file under the reporting folder, the command that writes it)
PICTURES = {
    "training_curves.png": ("training_curves.png", "kedro run"),
    "adversarial_examples.png": ("adversarial/simplenet_examples.png", "kedro run --pipelines adversarial"),
    "gan_samples.png": ("gan/samples.png", "kedro run --pipelines gan"),
}
RESULTS = ("results.csv", "kedro run")
#: pictures of the section on the lecture's claims: drawn when their pipeline has run (wide figures, wider PNGs)
CLAIMS_PICTURES = {
    "depth_bn.png": ("depth_bn/depth_bn.png", "kedro run --pipelines depth_bn"),
    "batch_lr.png": ("batch_lr/heat_map.png", "kedro run --pipelines batch_lr"),
    "dropout_ensemble.png": ("dropout_ensemble/ensembles.png", "kedro run --pipelines dropout_ensemble"),
    "patch_examples.png": ("patch/simplenet_plus_examples.png", "kedro run --pipelines patch"),
}
CLAIMS_WIDTH = 1200


def _missing(reporting: Path) -> list[str]:
    needed = [RESULTS, *PICTURES.values()]
    return [f"{reporting / name} (made by `{command}`)" for name, command in needed if not (reporting / name).is_file()]


def scaled_png(source: Path, target: Path, width: int, colours: int = 64) -> None:
    """``source`` scaled to at most ``width`` pixels wide (aspect kept), as an optimised PNG of
    ``colours`` palette colours (grey digits, a few coloured captions: a fraction of the bytes).
    Octree quantisation: median cut spends every colour on the greys and turns the few red
    captions ("red: wrong") grey."""
    with Image.open(source) as image:
        image = image.convert("RGB")
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
        image.quantize(colors=colours, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)


def write_readme_pictures(reporting: Path, out: Path, width: int = 760) -> list[Path]:
    """Write the README's pictures into ``out``; raise ``FileNotFoundError`` naming every missing input."""
    missing = _missing(reporting)
    if missing:
        raise FileNotFoundError("the README's pictures need outputs that are not there: " + "; ".join(missing))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    table = pd.read_csv(reporting / RESULTS[0])
    figure = results_table_figure(table)
    target = out / "results_table.png"
    figure.savefig(target, dpi=100)
    close(figure)
    scaled_png(target, target, width)
    written.append(target)
    for name, (source, _) in PICTURES.items():
        scaled_png(reporting / source, out / name, width)
        written.append(out / name)
    for name, (source, command) in CLAIMS_PICTURES.items():
        if not (reporting / source).is_file():
            logger.info("not redrawn: docs/%s (%s is made by `%s`)", name, reporting / source, command)
            continue
        scaled_png(reporting / source, out / name, max(width, CLAIMS_WIDTH), colours=256)  # many line colours: 64 would merge some
        written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reporting", type=Path, default=Path("data/08_reporting"), help="the pipelines' reporting folder")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="where the pictures go")
    parser.add_argument("--width", type=int, default=760, help="largest width in pixels")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        written = write_readme_pictures(args.reporting, args.out, args.width)
    except FileNotFoundError as error:
        sys.exit(str(error))
    for path in written:
        logger.info("wrote %s", path)
    return written


if __name__ == "__main__":
    main()


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

"""The README's first-screen pictures, redrawn from what the pipelines wrote::

    python -m practical_dl.readme_pictures [--reporting data/08_reporting] [--out docs] [--width 760]

(``make docs``), after ``kedro run``, ``kedro run --pipelines adversarial`` and ``kedro run
--pipelines gan``. Writes small PNGs into ``docs/``: the results table (drawn from
``results.csv``), and the training curves, one model's adversarial examples and the DCGAN's
samples (the pipelines' own plots, scaled to ``width`` pixels); the pictures of the lecture's
claims (``depth_bn``, ``batch_lr``, ``dropout_ensemble``, ``patch``) where those pipelines have run. A missing input is named with the
command that makes it; nothing is drawn by hand.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd
from PIL import Image

from practical_dl import plots

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
    figure = plots.results_table_figure(table)
    target = out / "results_table.png"
    figure.savefig(target, dpi=100)
    plots.close(figure)
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

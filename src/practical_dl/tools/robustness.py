"""How the trained classifiers do on digit image FILES rather than on MNIST's own 28x28 arrays:
the measurement in docs/using-models.md, reproducible by one command::

    python -m practical_dl.tools.robustness [--count 2000] [--seed 0] [--out data/02_intermediate/robustness] [--models simplenet ...]

1. Writes ``count`` MNIST *test* digits (a seeded random subset; never trained on) as photographed
   or scanned files (:func:`practical_dl.tools.digit_images.photo_of_digit`) into ``<out>/mnist_photos/``
   (``00017_7.png``: test index and true label; ``<out>/mnist_photos.csv`` records how each was
   made), and every available font x digits 0 to 9 x 3 sizes
   (:func:`practical_dl.tools.digit_images.font_digit`) into ``<out>/fonts/``
   (``DejaVuSans-Bold_64px_7.png``; ``<out>/fonts.csv``).
2. Runs the real ``predict`` pipeline on each folder in this process (a ``KedroSession``, as
   ``kedro run --pipelines predict --params predict.folder=...`` would): the photos prepared the
   MNIST way and by naive resizing, the fonts the MNIST way. Reports go to
   ``<out>/reports/<set>_<preparation>/`` (``predictions.csv``, ``contact_sheet.png``).
3. Reads the predictions back, takes the true labels from the file names and writes
   ``<out>/summary.md`` and ``<out>/summary.json``: per model, the accuracy on the same test digits
   as MNIST gives them (the classifier run directly on the 28x28 arrays), on their photos prepared
   the MNIST way and resized naively (and the difference in points), and on the fonts (also per
   font, per size and per digit); how many files were rejected; and the time taken.

A rejected file (no ink found, unreadable) counts as a wrong answer: the person got none. The
models are the trained ones of ``trained_models`` (their newest version in ``data/06_models``),
or ``--models``. Run it from the project folder, after ``kedro run`` has trained the models.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from practical_dl.tools.digit_images import available_fonts, font_digit, load_mnist_test, photo_file

logger = logging.getLogger(__name__)

DEFAULT_OUT = Path("data/02_intermediate/robustness")
FONT_SIZES = (24, 64, 160)
#: (set, preparation) pairs the predict pipeline is run for
RUNS = (("mnist_photos", "mnist"), ("mnist_photos", "naive"), ("fonts", "mnist"))


def label_from_name(name: str) -> int:
    """The true digit, the last ``_``-separated part of a file name: ``00017_7.png`` -> 7."""
    return int(Path(name).stem.rsplit("_", 1)[1])


def _fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def write_mnist_photos(folder: Path, images: np.ndarray, labels: np.ndarray, count: int, seed: int) -> pd.DataFrame:
    """``count`` test digits, the first of a seeded permutation (a larger ``count`` with the same
    seed writes a superset), each from its own generator; returns what each file is."""
    order = np.random.default_rng(seed).permutation(len(images))[:count]
    rows = []
    for index in order:
        data, suffix, style = photo_file(images[index], np.random.default_rng([seed, int(index)]))
        name = f"{index:05d}_{labels[index]}{suffix}"
        (folder / name).write_bytes(data)
        rows.append(
            {
                "image": name,
                "index": int(index),
                "truth": int(labels[index]),
                "digit_side": style.digit_side,
                "width": style.canvas_size[0],
                "height": style.canvas_size[1],
                "light_on_dark": style.light_on_dark,
                "format": style.fmt,
                "quality": style.quality if style.fmt == "JPEG" else None,
                "noise": round(style.noise, 2),
                "blur": round(style.blur, 2),
                "bytes": len(data),
            }
        )
    return pd.DataFrame(rows)


def write_font_set(folder: Path, fonts: Sequence[Path], sizes: Sequence[int], seed: int) -> pd.DataFrame:
    """Every font x digit x size, each from a generator seeded by the font's file name."""
    rows = []
    for font in fonts:
        for digit in range(10):
            for size in sizes:
                rng = np.random.default_rng([seed, zlib.crc32(font.name.encode()), digit, int(size)])
                name = f"{font.stem}_{size}px_{digit}.png"
                (folder / name).write_bytes(font_digit(digit, font, rng, int(size)))
                rows.append({"image": name, "font": font.stem, "size": int(size), "truth": digit})
    return pd.DataFrame(rows)


def run_predict(project: Path, folder: Path, reports: Path, preparation: str, models: list[str], env: str | None = None) -> None:
    """``kedro run --pipelines predict`` on ``folder`` in this process."""
    import mlflow
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)  # also forgets the pipelines built for the previous run's parameters
    runtime_params = {
        "predict": {
            "folder": folder.resolve().as_posix(),
            "reports": reports.resolve().as_posix(),
            "preparation": preparation,
            "models": models,
        }
    }
    try:
        with KedroSession.create(project_path=project, env=env, runtime_params=runtime_params) as session:
            session.run(pipeline_names=["predict"])
    finally:
        # kedro-mlflow leaves its run on MLflow's stack (a CLI process ends it at exit): end it,
        # so that the next session in this process starts its own
        while mlflow.active_run() is not None:
            mlflow.end_run()


def model_files(project: Path, models: Sequence[str] | None) -> dict[str, Path]:
    """The newest classifier file of each model (``--models``, or every trained one of ``trained_models``)."""
    from practical_dl.models.classifier import latest_classifier_file
    from practical_dl.project.context import load_project_parameters

    models_dir = project / "data" / "06_models"
    if models:
        return {m: latest_classifier_file(models_dir, m) for m in models}
    found = {}
    for model in load_project_parameters(project).get("trained_models") or []:
        try:
            found[model] = latest_classifier_file(models_dir, model)
        except FileNotFoundError:
            logger.warning("robustness: %s has not been trained; left out", model)
    if not found:
        raise SystemExit(f"no trained classifier under {models_dir}: run `kedro run` (or `kedro run --pipelines training`) first")
    return found


def answers(reports: Path, manifest: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """One row per file of ``manifest`` (with its ``truth``), a column per model: True where that
    model's prediction is the truth (False also where the file was rejected); and ``rejected``."""
    table = pd.read_csv(reports / "predictions.csv", dtype={"prediction": str, "image": str, "model": str, "status": str})
    result = manifest.copy()
    ok = table[table["status"] == "ok"]
    for model in models:
        predicted = ok[ok["model"] == model].set_index("image")["prediction"]
        result[model] = result["image"].map(predicted).eq(result["truth"].astype(str))
    statuses = table.drop_duplicates("image").set_index("image")["status"]
    result["rejected"] = result["image"].map(statuses).ne("ok")
    missing = set(manifest["image"]) - set(table["image"])
    if missing:
        raise RuntimeError(f"{reports / 'predictions.csv'} has no row for {len(missing)} file(s), e.g. {sorted(missing)[:3]}")
    return result


def _percent(series: pd.Series) -> float:
    return round(100.0 * float(series.mean()), 2)


def _by(frame: pd.DataFrame, column: str, models: Sequence[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for key, group in frame.groupby(column, sort=True, observed=True):
        out[str(key)] = {"files": len(group), **{m: _percent(group[m]) for m in models}}
    return out


def summarise(
    clean: dict[str, float],
    photos_mnist: pd.DataFrame,
    photos_naive: pd.DataFrame,
    fonts: pd.DataFrame,
    labels: dict[str, str],
    files: dict[str, Path],
) -> dict[str, Any]:
    models = list(labels)
    photos = photos_mnist.assign(
        side=pd.cut(photos_mnist["digit_side"], [0, 63, 127, 255, 512], labels=["032-063 px", "064-127 px", "128-255 px", "256-512 px"]),
        polarity=np.where(photos_mnist["light_on_dark"], "light on dark", "dark on light"),
        blurred=np.where(photos_mnist["blur"] > 0, "blurred", "sharp"),
    )
    accuracy = {
        m: {
            "label": labels[m],
            "clean": clean[m],
            "photos_mnist": _percent(photos_mnist[m]),
            "photos_naive": _percent(photos_naive[m]),
            "fonts": _percent(fonts[m]),
        }
        for m in models
    }
    for row in accuracy.values():
        row["photos_mnist_minus_clean"] = round(row["photos_mnist"] - row["clean"], 2)
        row["photos_naive_minus_clean"] = round(row["photos_naive"] - row["clean"], 2)
    return {
        "models": {m: {"label": labels[m], "file": files[m].as_posix()} for m in models},
        "accuracy_percent": accuracy,
        "files": {"mnist_photos": len(photos_mnist), "fonts": len(fonts)},
        "rejected": {
            "mnist_photos_mnist": int(photos_mnist["rejected"].sum()),
            "mnist_photos_naive": int(photos_naive["rejected"].sum()),
            "fonts_mnist": int(fonts["rejected"].sum()),
        },
        "photos_by": {column: _by(photos, column, models) for column in ("side", "format", "polarity", "blurred")},
        "fonts_by_font": _by(fonts, "font", models),
        "fonts_by_size": _by(fonts, "size", models),
        "fonts_by_digit": _by(fonts, "truth", models),
    }


def _table(header: Sequence[str], rows: list[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _breakdown(title: str, groups: dict[str, dict[str, Any]], models: Sequence[str], labels: dict[str, str]) -> str:
    rows = [[key, g["files"], *(f"{g[m]:.1f}" for m in models)] for key, g in groups.items()]
    return f"{title}\n\n" + _table(["", "files", *(labels[m] for m in models)], rows)


def main_table(summary: dict[str, Any]) -> str:
    rows = []
    for row in summary["accuracy_percent"].values():
        rows.append(
            [
                row["label"],
                f"{row['clean']:.2f}",
                f"{row['photos_mnist']:.2f}",
                f"{row['photos_mnist_minus_clean']:+.2f}",
                f"{row['photos_naive']:.2f}",
                f"{row['photos_naive_minus_clean']:+.2f}",
                f"{row['fonts']:.2f}",
            ]
        )
    header = [
        "model",
        "MNIST test digits (28x28)",
        "their photos, MNIST preparation",
        "points",
        "their photos, naive resize",
        "points",
        "fonts",
    ]
    return _table(header, rows)


def summary_markdown(summary: dict[str, Any]) -> str:
    models = list(summary["models"])
    labels = {m: summary["models"][m]["label"] for m in models}
    rejected = summary["rejected"]
    font_list = ", ".join(summary["fonts"])
    parts = [
        "# Robustness: the classifiers on digit image files",
        f"`{summary['command']}` ({summary['seconds']:.0f} s; seed {summary['seed']}).",
        f"Accuracy in percent. {summary['files']['mnist_photos']} MNIST test digits (a seeded random subset), each as given "
        f"(28x28) and as a photographed or scanned file; {summary['files']['fonts']} typed digits "
        f"({len(summary['fonts'])} fonts x 10 digits x sizes {summary['sizes']} px). A rejected file counts as wrong. "
        f"Rejected: {rejected['mnist_photos_mnist']} photos (MNIST preparation), {rejected['mnist_photos_naive']} (naive), "
        f"{rejected['fonts_mnist']} font digits.",
        main_table(summary),
        _breakdown("Photos (MNIST preparation) by the side of the digit's box", summary["photos_by"]["side"], models, labels),
        _breakdown("Photos (MNIST preparation) by file format", summary["photos_by"]["format"], models, labels),
        _breakdown("Photos (MNIST preparation) by polarity", summary["photos_by"]["polarity"], models, labels),
        _breakdown("Photos (MNIST preparation), blurred or not", summary["photos_by"]["blurred"], models, labels),
        _breakdown("Fonts by size (px to the em)", summary["fonts_by_size"], models, labels),
        _breakdown("Fonts by digit", summary["fonts_by_digit"], models, labels),
        _breakdown("Fonts by font", summary["fonts_by_font"], models, labels),
        f"Fonts: {font_list}.",
        "Timing: " + ", ".join(f"{k} {v:.0f} s" for k, v in summary["timing_seconds"].items()) + ".",
        "Models: " + ", ".join(f"{labels[m]} `{summary['models'][m]['file']}`" for m in models) + ".",
    ]
    return "\n\n".join(parts) + "\n"


def measure(
    count: int = 2000,
    seed: int = 0,
    out: Path = DEFAULT_OUT,
    models: Sequence[str] | None = None,
    sizes: Sequence[int] = FONT_SIZES,
    system_fonts: bool = True,
    env: str | None = None,
    command: str = "",
) -> dict[str, Any]:
    """The whole measurement (see the module's docstring); returns the summary it writes."""
    from kedro.utils import find_kedro_project

    from practical_dl.models.classifier import load_classifier

    started = time.perf_counter()
    timing: dict[str, float] = {}
    project = find_kedro_project(Path.cwd())
    if project is None:
        raise SystemExit(f"no Kedro project at or above {Path.cwd()}: run this from the project folder")
    out = out if out.is_absolute() else project / out
    files = model_files(project, models)
    models = list(files)
    classifiers = {m: load_classifier(f) for m, f in files.items()}
    labels = {m: c.label for m, c in classifiers.items()}
    images, truth = load_mnist_test(project / "data" / "01_raw" / "mnist")
    if not 1 <= count <= len(images):
        raise SystemExit(f"--count must be 1 to {len(images)}, got {count}")

    t = time.perf_counter()
    photos = write_mnist_photos(_fresh(out / "mnist_photos"), images, truth, count, seed)
    photos.to_csv(out / "mnist_photos.csv", index=False)
    fonts = available_fonts(system=system_fonts)
    font_set = write_font_set(_fresh(out / "fonts"), fonts, sizes, seed)
    font_set.to_csv(out / "fonts.csv", index=False)
    timing["writing the files"] = time.perf_counter() - t
    logger.info(
        "robustness: wrote %d photos and %d font digits (%d fonts) in %.0f s",
        len(photos),
        len(font_set),
        len(fonts),
        timing["writing the files"],
    )

    t = time.perf_counter()
    subset = photos["index"].to_numpy()
    clean = {}
    for m, classifier in classifiers.items():
        predicted = np.asarray(classifier.class_names)[classifier.probabilities(images[subset]).argmax(axis=1)]
        clean[m] = _percent(pd.Series(predicted == truth[subset].astype(str)))
    timing["the clean test digits"] = time.perf_counter() - t

    shutil.rmtree(out / "reports", ignore_errors=True)
    results = {}
    for name, preparation in RUNS:
        t = time.perf_counter()
        reports = out / "reports" / f"{name}_{preparation}"
        run_predict(project, out / name, reports, preparation, models, env)
        results[(name, preparation)] = answers(reports, photos if name == "mnist_photos" else font_set, models)
        timing[f"predict {name} ({preparation})"] = time.perf_counter() - t

    summary = summarise(
        clean, results[("mnist_photos", "mnist")], results[("mnist_photos", "naive")], results[("fonts", "mnist")], labels, files
    )
    timing["total"] = time.perf_counter() - started
    summary = {
        "command": command or f"python -m practical_dl.tools.robustness --count {count} --seed {seed}",
        "count": count,
        "seed": seed,
        "sizes": list(sizes),
        "fonts": [f.stem for f in fonts],
        "seconds": round(timing["total"], 1),
        "timing_seconds": {k: round(v, 1) for k, v in timing.items()},
        **summary,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(summary_markdown(summary))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m practical_dl.tools.robustness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="MNIST test digits to photograph (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subset and of every file (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder, relative to the project (default: %(default)s)")
    parser.add_argument("--models", nargs="+", help="models of trained_models (default: every trained one)")
    parser.add_argument("--sizes", nargs="+", type=int, default=list(FONT_SIZES), help="font sizes in px (default: %(default)s)")
    parser.add_argument(
        "--matplotlib-fonts-only",
        action="store_true",
        help="leave out the fonts in /usr/share/fonts/truetype (the same set on every machine)",
    )
    parser.add_argument("--env", default=None, help="Kedro environment for the predict runs (default: Kedro's, local)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    command = "python -m practical_dl.tools.robustness " + " ".join(sys.argv[1:] if argv is None else argv)
    summary = measure(args.count, args.seed, args.out, args.models, args.sizes, not args.matplotlib_fonts_only, args.env, command.strip())
    print()
    print(main_table(summary))
    print(
        f"\nrejected: {summary['rejected']}; {summary['seconds']:.0f} s; "
        f"details in {(args.out / 'summary.md').as_posix()} and {(args.out / 'summary.json').as_posix()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

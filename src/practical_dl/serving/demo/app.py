"""The draw-a-digit page: FastAPI serving one static HTML file and a JSON prediction endpoint.

* ``GET /``: the page (``static/index.html``: inline JS/CSS, a <canvas>, nothing from the internet);
* ``GET /api/models``: the classifiers served, ``{"models": [{"name", "label", "class_names"}]}``;
* ``POST /api/predict`` with ``{"image": "<data URL or base64 of a PNG>"}``: the drawing prepared
  by :func:`practical_dl.serving.inference.prepare_inputs` (the MNIST recipe of ``practical_dl.serving.preprocess``,
  as in the ``predict`` pipeline and the MLflow model) and classified by every model::

      {"status": "ok", "reason": "...", "input28": [[28 ints] x 28],
       "models": [{"name", "label", "class_names", "prediction", "probabilities": [10 floats]}]}

  An input that cannot be predicted (a blank canvas: ``"no_ink"``) gets its status and reason,
  ``input28`` null and no models.

``main`` is the console script ``practical-dl-demo``: it loads the newest trained version of each
model from ``data/06_models`` and runs uvicorn on 127.0.0.1:8000.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import logging
import sys
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from practical_dl.models.classifier import DigitClassifier, latest_classifier_file, load_classifier
from practical_dl.serving.inference import STATUS_OK, prediction_rows, prepare_inputs

logger = logging.getLogger(__name__)

DEFAULT_MODELS = ("simplenet", "simplenet_plus")
DEFAULT_MODELS_DIR = Path("data") / "06_models"
#: Longest ``image`` string accepted (a 280x280 canvas is a few kB of PNG).
MAX_IMAGE_CHARS = 8_000_000
PAGE = "static/index.html"


class PredictRequest(BaseModel):
    image: str


def page_html() -> str:
    """The page, read from the package (``practical_dl/serving/demo/static/index.html``)."""
    resource = files("practical_dl.serving.demo").joinpath(PAGE)
    try:
        return resource.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuntimeError(
            f"the page {PAGE} is missing from the installed package practical_dl.serving.demo; "
            "it must be installed as package data (see [tool.setuptools.package-data] in pyproject.toml)"
        ) from None


def decode_image(value: str) -> bytes:
    """The bytes of a data URL (``data:image/png;base64,...``) or of plain base64; raises ValueError."""
    if value.startswith("data:"):
        header, sep, value = value.partition(",")
        if not sep or not header.endswith(";base64"):
            raise ValueError("not a readable image: a data URL that is not base64-encoded")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not a readable image: the image is not valid base64") from None


def predict_drawing(classifiers: Mapping[str, DigitClassifier], image: str) -> dict[str, Any]:
    """The answer of ``POST /api/predict`` for one image (a data URL or base64)."""
    if len(image) > MAX_IMAGE_CHARS:
        return {
            "status": "too_large",
            "reason": f"the image is too large: more than {MAX_IMAGE_CHARS:,} characters",
            "input28": None,
            "models": [],
        }
    try:
        data = decode_image(image)
    except ValueError as exc:
        return {"status": "unreadable", "reason": str(exc), "input28": None, "models": []}
    inputs = prepare_inputs({"drawing": data})
    item = inputs[0]
    if not item.ok:
        return {"status": item.status, "reason": item.reason, "input28": None, "models": []}
    table = prediction_rows(classifiers, inputs)
    models = []
    for row in table.to_dict("records"):
        classes = classifiers[row["model"]].class_names
        models.append(
            {
                "name": row["model"],
                "label": row["label"],
                "class_names": classes,
                "prediction": row["prediction"],
                "probabilities": [float(row[f"p_{c}"]) for c in classes],
            }
        )
    reason = str(table["reason"].iloc[0]) if len(table) else ""
    return {"status": STATUS_OK, "reason": reason, "input28": item.prepared.image.tolist(), "models": models}


def create_app(classifiers: Mapping[str, DigitClassifier]) -> FastAPI:
    """The page and its API around ``{model name: classifier}`` (shown in this order)."""
    if not classifiers:
        raise ValueError("the draw-a-digit page needs at least one classifier")
    classifiers = dict(classifiers)
    for classifier in classifiers.values():
        classifier.eval()
    html = page_html()
    # no /docs or /redoc: their pages load scripts from a CDN, and this page fetches nothing from the internet
    app = FastAPI(title="practical-dl draw-a-digit page", docs_url=None, redoc_url=None)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/api/models")
    def models() -> dict[str, Any]:
        return {"models": [{"name": name, "label": c.label, "class_names": c.class_names} for name, c in classifiers.items()]}

    @app.post("/api/predict")
    def predict(request: PredictRequest) -> dict[str, Any]:  # a plain def: FastAPI runs it in a worker thread
        return predict_drawing(classifiers, request.image)

    return app


def load_classifiers(models_dir: str | Path, models: Sequence[str]) -> tuple[dict[str, DigitClassifier], dict[str, str]]:
    """The newest trained version of each model, and why the others could not be loaded."""
    loaded: dict[str, DigitClassifier] = {}
    problems: dict[str, str] = {}
    for model in dict.fromkeys(models):  # each once, in the order given
        try:
            path = latest_classifier_file(models_dir, model)
            loaded[model] = load_classifier(path)
        except (FileNotFoundError, ValueError) as exc:
            problems[model] = str(exc)
            continue
        logger.info("%s (%s): %s", model, loaded[model].label, path)
    return loaded, problems


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="practical-dl-demo",
        description=(
            "The draw-a-digit page: draw a digit and watch the trained classifiers' probabilities. "
            "Run it from the Kedro project root after `kedro run`."
        ),
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_MODELS),
        metavar="MODEL",
        help="models to show, by their name in the catalog (default: %(default)s)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=DEFAULT_MODELS_DIR,
        help="where the trained models are (default: %(default)s, relative to the current folder)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")

    classifiers, problems = load_classifiers(args.models_dir, args.models)
    if not classifiers:
        details = "\n".join(f"  {model}: {problem}" for model, problem in problems.items())
        sys.exit(
            f"practical-dl-demo: no trained classifier to show for {', '.join(problems)}:\n{details}\n"
            "Train them first with `kedro run` (run from the Kedro project root, or pass --models-dir; "
            f"looked in {args.models_dir.resolve()})."
        )
    for model, problem in problems.items():
        logger.warning("not showing %s: %s", model, problem)

    import uvicorn  # only here: importing the module (for create_app) does not need it

    host = f"[{args.host}]" if ":" in args.host else args.host
    logger.info(
        "draw-a-digit page with %s on http://%s:%d/ (Ctrl+C to stop)", ", ".join(c.label for c in classifiers.values()), host, args.port
    )
    uvicorn.run(create_app(classifiers), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()

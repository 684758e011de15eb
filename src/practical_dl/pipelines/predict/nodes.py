"""Nodes of the ``predict`` pipeline (thin: preparation and prediction are in
``practical_dl.serving.inference``, shared with the MLflow model and the draw-a-digit page)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Literal

import pandas as pd
from matplotlib.figure import Figure
from pydantic import Field, StrictInt

from practical_dl.core.params import ParameterError, PositiveInt, Settings
from practical_dl.pipelines.predict.figures import contact_sheet_figure
from practical_dl.project.datasets.bytes_dataset import FileTooLargeError
from practical_dl.project.parameters import TrainedModels
from practical_dl.serving.inference import PREPARATIONS, Classifier, PreparedInput, prediction_rows, prepare_inputs
from practical_dl.serving.preprocess import MAX_PIXELS

logger = logging.getLogger(__name__)


class PredictParameters(Settings):
    """The ``predict`` block: which trained classifiers read a folder of your own images, and how."""

    models: Annotated[list[str], Field(min_length=1)] | None = None
    """null: every model of trained_models that has been trained; or a list of them."""
    trusted_model: str = "simplenet"
    """The model to believe (column ``trusted``, the log); one of trained_models."""
    preparation: Literal[PREPARATIONS] = "mnist"
    """mnist: cropped, fitted into 20x20, centred as MNIST was; naive: the whole image resized to 28x28."""
    max_pixels: Annotated[StrictInt, Field(ge=28 * 28)] = MAX_PIXELS
    """Larger images get a ``too_large`` row instead of being decoded."""
    contact_sheet_images: PositiveInt = 40
    """Rows of the contact sheet."""
    folder: str | None = None
    """The images (``--params predict.folder=...``; the catalog's default: data/01_raw/my_digits)."""
    reports: str | None = None
    """Where the table and the contact sheet go (``--params predict.reports=...``)."""


def check_against_trained_models(predict: PredictParameters, trained_models: list[str]) -> None:
    """``predict.models`` and ``predict.trusted_model`` must name models of ``trained_models``."""
    unknown = [m for m in predict.models or [] if m not in trained_models]
    if unknown:
        raise ParameterError(f"invalid parameter predict.models: {unknown} are not in trained_models {trained_models}")
    if predict.trusted_model not in trained_models:
        raise ParameterError(
            f"invalid parameter predict.trusted_model: {predict.trusted_model!r} is not in trained_models {trained_models}"
        )


def _read(load: Callable[[], bytes]) -> bytes | Exception:
    try:
        return load()
    except Exception as exc:  # a file that cannot even be read (too large, no permission) still gets its row
        return exc


def _summary(inputs: list[PreparedInput], answers: dict[str, str], trusted: str, classifiers, shown: int = 20) -> str:
    """The log's account of a run: the trusted model's answer per image, or why there is none."""
    lines = [
        f"{i.name}: {answers[i.name]} according to {trusted}" if i.name in answers else f"{i.name}: {i.status} ({i.reason})" for i in inputs
    ]
    more = f"\n  ... and {len(lines) - shown} more in the table" if len(lines) > shown else ""
    predicted = sum(i.ok for i in inputs)
    head = (
        f"{len(inputs)} image(s), {predicted} predicted by {', '.join(c.label for c in classifiers)}, "
        f"{len(inputs) - predicted} not predicted"
    )
    return head + "".join(f"\n  - {line}" for line in lines[:shown]) + more


def predict_digits(
    images: dict[str, Callable[[], bytes]],
    predict: PredictParameters,
    trained_models: TrainedModels,
    *classifiers: Classifier,
    models: list[str],
) -> tuple[pd.DataFrame, Figure]:
    """Every image of the folder through every chosen classifier.

    Returns the table (one row per image and model: prediction, probability, top 3, every
    class's probability, and whether the model is ``predict.trusted_model``; one row per image
    that could not be predicted, with its status and reason) and the contact sheet (the image
    as given | as the network sees it | the probabilities of every model as bars).
    """
    check_against_trained_models(predict, trained_models.root)
    by_model = dict(zip(models, classifiers))
    names = sorted(n for n in images if not n.rsplit("/", 1)[-1].startswith("."))
    contents = {n: _read(images[n]) for n in names}
    sources = {n: c for n, c in contents.items() if not isinstance(c, Exception)}
    max_pixels, preparation = predict.max_pixels, predict.preparation
    prepared = {p.name: p for p in prepare_inputs(sources, max_pixels, preparation=preparation)}
    for name, exc in contents.items():
        if isinstance(exc, Exception):
            status = "too_large" if isinstance(exc, FileTooLargeError) else "unreadable"
            prepared[name] = PreparedInput(
                name, status=status, reason=str(exc) if status == "too_large" else f"the file could not be read: {exc}"
            )
    inputs = [prepared[n] for n in names]
    table = prediction_rows(by_model, inputs)
    trusted = predict.trusted_model
    table.insert(3, "trusted", table["model"] == trusted)
    answers = {r["image"]: f"{r['prediction']} ({r['probability']:.0%})" for _, r in table[table["trusted"]].iterrows()}
    logger.info("predict: %s", _summary(inputs, answers, by_model[trusted].label if trusted in by_model else trusted, classifiers))
    class_names = classifiers[0].class_names if classifiers else [str(d) for d in range(10)]
    shown = inputs[: predict.contact_sheet_images]
    # the pictures of each step, for the images on the contact sheet only
    steps = {
        p.name: p.prepared.steps for p in prepare_inputs({i.name: sources[i.name] for i in shown if i.ok}, max_pixels, keep_steps=True)
    }
    rows = []
    for item in shown:
        probabilities = {}
        if item.ok:
            mine = table[(table["image"] == item.name) & (table["status"] == "ok")]
            probabilities = {r["label"]: r[[f"p_{c}" for c in class_names]].to_numpy(float) for _, r in mine.iterrows()}
        rows.append(
            {
                "name": item.name,
                "original": (steps.get(item.name) or {}).get("as given"),
                "prepared": item.prepared.image if item.ok else None,
                "probabilities": probabilities,
                "reason": f"{item.status}: {item.reason}",
            }
        )
    sheet = contact_sheet_figure(
        rows, class_names, f"Your digits: as given, as the network sees them, and each model's probabilities ({len(inputs)} images)"
    )
    return table, sheet

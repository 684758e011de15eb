"""Predictions on a person's own images: preparation (``practical_dl.serving.preprocess``) and the trained
classifiers (``practical_dl.models.classifier``), in one place that the ``predict`` pipeline, the MLflow
model and the draw-a-digit page all call, so each prepares an image exactly as the others do.

Plain Python, usable without Kedro::

    from practical_dl.models.classifier import load_classifier
    from practical_dl.serving.inference import predict_images
    table = predict_images({"simplenet": load_classifier(path)}, {"my_7.jpg": open("my_7.jpg", "rb").read()})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from practical_dl.serving.preprocess import MAX_PIXELS, ImageRejected, PreparedDigit, naive_resize, prepare_digit

#: Columns of the table of predictions (``p_0`` ... ``p_9`` follow, one per class).
COLUMNS = ("image", "model", "label", "status", "reason", "prediction", "probability", "top3")
STATUS_OK = "ok"
#: The reason given with a prediction of an input that was dark ink on light paper.
INVERTED_NOTE = "inverted (dark ink on light paper)"
#: ``mnist``: the MNIST recipe (:func:`~practical_dl.serving.preprocess.prepare_digit`); ``naive``: the
#: whole image resized to 28x28 (:func:`~practical_dl.serving.preprocess.naive_resize`), for comparison.
PREPARATIONS = ("mnist", "naive")


class Classifier(Protocol):
    """What prediction needs of a classifier (a :class:`~practical_dl.models.classifier.DigitClassifier` is one)."""

    @property
    def label(self) -> str: ...

    @property
    def class_names(self) -> list[str]: ...

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N x classes) of N images (N x H x W uint8)."""
        ...


@dataclass
class PreparedInput:
    """One input as the networks see it, or why it cannot be predicted."""

    name: str
    prepared: PreparedDigit | None = None
    status: str = STATUS_OK
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.prepared is not None


def prepare_inputs(
    sources: Mapping[str, Any], max_pixels: int = MAX_PIXELS, keep_steps: bool = False, preparation: str = "mnist"
) -> list[PreparedInput]:
    """Prepare every source (encoded bytes, a PIL image or an array), in the order given; an input
    that cannot be prepared gets its status and reason instead of stopping the others."""
    if preparation not in PREPARATIONS:
        raise ValueError(f"preparation must be one of {PREPARATIONS}, got {preparation!r}")
    prepared = []
    for name, source in sources.items():
        try:
            if preparation == "naive":
                image = naive_resize(source, max_pixels=max_pixels)
                prepared.append(PreparedInput(name, PreparedDigit(image=image, inverted=False, original_size=(0, 0), steps={})))
            else:
                prepared.append(PreparedInput(name, prepare_digit(source, max_pixels=max_pixels, keep_steps=keep_steps)))
        except ImageRejected as exc:
            prepared.append(PreparedInput(name, status=exc.status, reason=exc.reason))
    return prepared


def probabilities(classifier: Classifier, inputs: list[PreparedInput]) -> np.ndarray:
    """Class probabilities of ``classifier`` for the inputs that could be prepared (rows in order)."""
    images = [i.prepared.image for i in inputs if i.ok]
    if not images:
        return np.zeros((0, len(classifier.class_names)), np.float32)
    return classifier.probabilities(np.stack(images))


def probabilities_per_image(classifiers: Mapping[str, Classifier], images: np.ndarray) -> list[dict[str, np.ndarray]]:
    """For each prepared image (N x 28 x 28 uint8), every classifier's class probabilities: one forward
    pass per classifier for the whole batch (what the draw-a-digit page's micro-batcher runs)."""
    per_model = {name: classifier.probabilities(images) for name, classifier in classifiers.items()}
    return [{name: p[i] for name, p in per_model.items()} for i in range(len(images))]


def prediction_rows(classifiers: Mapping[str, Classifier], inputs: list[PreparedInput]) -> pd.DataFrame:
    """One row per input and classifier: the predicted class, its probability, the top 3 and every
    class's probability; inputs that could not be prepared get one row each with their status."""
    rows: list[dict[str, Any]] = []
    per_model = {name: iter(probabilities(c, inputs)) for name, c in classifiers.items()}
    for item in inputs:
        if not item.ok:
            rows.append({"image": item.name, "model": "", "label": "", "status": item.status, "reason": item.reason})
            continue
        for name, classifier in classifiers.items():
            p = next(per_model[name])
            order = np.argsort(-p, kind="stable")
            classes = classifier.class_names
            rows.append(
                {
                    "image": item.name,
                    "model": name,
                    "label": classifier.label,
                    "status": STATUS_OK,
                    "reason": INVERTED_NOTE if item.prepared.inverted else "",
                    "prediction": classes[order[0]],
                    "probability": float(p[order[0]]),
                    "top3": " ".join(f"{classes[k]}:{p[k]:.3f}" for k in order[:3]),
                    **{f"p_{c}": float(v) for c, v in zip(classes, p)},
                }
            )
    table = pd.DataFrame(rows)
    for column in COLUMNS:
        if column not in table:
            table[column] = pd.Series(dtype=object)
    return table[[*COLUMNS, *(c for c in table.columns if c not in COLUMNS)]]


def predict_images(classifiers: Mapping[str, Classifier], sources: Mapping[str, Any], max_pixels: int = MAX_PIXELS) -> pd.DataFrame:
    """:func:`prepare_inputs` then :func:`prediction_rows`."""
    return prediction_rows(classifiers, prepare_inputs(sources, max_pixels))

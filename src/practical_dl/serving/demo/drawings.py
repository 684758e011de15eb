"""One batch of drawings to their answers: decoding, the MNIST preparation and every model's probabilities.

What the page's batcher calls (in the server's thread or a worker process,
:mod:`practical_dl.serving.demo.worker`); each drawing gets the bytes of its 200 answer or the
:class:`~practical_dl.serving.demo.schemas.Refusal` why not, a bad drawing failing alone.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from practical_dl.models.classifier import DigitClassifier
from practical_dl.serving.demo.schemas import STATUS_NO_INK, ModelPrediction, Prediction, Refusal
from practical_dl.serving.inference import INVERTED_NOTE, PreparedInput, prepare_inputs, probabilities_per_image

logger = logging.getLogger(__name__)


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


def read_drawing(image: str) -> PreparedInput:
    """One drawing (a data URL or base64) prepared for the networks, or a 422 :class:`Refusal` saying why not.

    A blank canvas is not refused: it comes back with status ``no_ink``."""
    try:
        data = decode_image(image)
    except ValueError as exc:
        raise Refusal(422, "unreadable", str(exc)) from None
    item = prepare_inputs({"drawing": data})[0]
    if not item.ok and item.status != STATUS_NO_INK:
        raise Refusal(422, item.status, item.reason)
    return item


def answer(classifiers: Mapping[str, DigitClassifier], item: PreparedInput, probabilities: Mapping[str, np.ndarray] | None) -> Prediction:
    """The 200 answer for a prepared drawing and each model's probabilities (None for ``no_ink``)."""
    if not item.ok or probabilities is None:
        return Prediction(status=STATUS_NO_INK, reason=item.reason, input28=None, models=[])
    models = []
    for name, classifier in classifiers.items():
        p = probabilities[name]
        classes = classifier.class_names
        models.append(
            ModelPrediction(
                name=name,
                label=classifier.label,
                class_names=classes,
                prediction=classes[int(np.argmax(p))],
                probabilities=p.tolist(),
            )
        )
    reason = INVERTED_NOTE if item.prepared.inverted else ""
    return Prediction(status="ok", reason=reason, input28=item.prepared.image.tolist(), models=models)


def _read_or_refuse(image: str) -> PreparedInput | Refusal:
    try:
        return read_drawing(image)
    except Refusal as refusal:
        return refusal
    except Exception:  # a bug, not the client's fault: this drawing fails, the rest of its batch does not
        logger.exception("preparing a drawing failed")
        return Refusal(500, "error", "the server failed to prepare this image")


def predict_drawings(
    classifiers: Mapping[str, DigitClassifier], images: list[str], pool: ThreadPoolExecutor | None = None
) -> list[bytes | Refusal]:
    """For each drawing, the JSON of its 200 answer or the :class:`Refusal` why not; the networks run once on
    all readable drawings (what the page's micro-batcher calls, in its thread). ``pool``: prepare the drawings in
    its threads (Pillow's decoding releases the GIL), else one after the other."""
    items = list(pool.map(_read_or_refuse, images)) if pool is not None and len(images) > 1 else [_read_or_refuse(i) for i in images]
    ready = [item for item in items if isinstance(item, PreparedInput) and item.ok]
    rows = iter(probabilities_per_image(classifiers, np.stack([item.prepared.image for item in ready])) if ready else [])
    answers: list[bytes | Refusal] = []
    for item in items:
        if isinstance(item, Refusal):
            answers.append(item)
        else:
            answers.append(answer(classifiers, item, next(rows) if item.ok else None).model_dump_json().encode())
    return answers

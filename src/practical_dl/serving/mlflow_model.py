"""The trained classifiers as MLflow models: logged, registered and served with the project's own
preparation of images (``practical_dl.serving.inference``), so ``mlflow models serve`` answers exactly
as ``kedro run --pipelines predict`` does.

The model is a hand-written ``mlflow.pyfunc.PythonModel`` logged as *code*
(``mlflow_model_code.py``, MLflow's "models from code"): nothing is pickled, and the classifier
travels as its safetensors file, an artefact of the MLflow model.

Input: a DataFrame (or dict) with a column ``image``, each entry one of

* PNG/JPEG/BMP/GIF bytes, or the same base64-encoded as a string (what a REST client sends);
* a 2-D (H x W) or 3-D (H x W x C) uint8 array, or the same as nested lists (JSON).

Output: one row per image: ``status`` (``ok`` or why not: ``empty``, ``unreadable``,
``too_large``, ``no_ink``), ``reason``, ``prediction``, ``probability``, ``top3`` and ``p_0`` ...
``p_9`` (all 0 when the status is not ``ok``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from practical_dl.models.classifier import DigitClassifier, classifier_to_bytes, load_classifier
from practical_dl.serving.inference import COLUMNS, predict_images
from practical_dl.serving.preprocess import MAX_PIXELS

logger = logging.getLogger(__name__)

INPUT_COLUMN = "image"
MODEL_CODE = Path(__file__).with_name("mlflow_model_code.py")
ARTIFACT = "classifier"


def _decoded(value: Any) -> Any:
    """One entry of the ``image`` column as something :func:`practical_dl.serving.preprocess.prepare_digit` takes."""
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value.encode()  # not base64: reported as an unreadable image
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return np.asarray(value, dtype=np.uint8)
    if isinstance(value, np.ndarray) and value.dtype == object:
        return np.asarray(value.tolist(), dtype=np.uint8)
    return value


def images_from_input(model_input: Any) -> dict[str, Any]:
    """``{row name: image}`` from what MLflow hands the model (a DataFrame after schema enforcement)."""
    if isinstance(model_input, dict):
        model_input = pd.DataFrame({k: list(v) for k, v in model_input.items()})
    if not isinstance(model_input, pd.DataFrame) or INPUT_COLUMN not in model_input:
        raise ValueError(f"expected a DataFrame with a column {INPUT_COLUMN!r} of images, got {type(model_input).__name__}")
    return {str(i): _decoded(v) for i, v in enumerate(model_input[INPUT_COLUMN])}


class DigitClassifierModel(mlflow.pyfunc.PythonModel):
    """A :class:`~practical_dl.models.classifier.DigitClassifier` behind MLflow's pyfunc interface."""

    def __init__(self, classifier: DigitClassifier | None = None) -> None:
        self.classifier = classifier

    def load_context(self, context) -> None:
        self.classifier = load_classifier(context.artifacts[ARTIFACT])

    # pd.DataFrame: what MLflow hands over after enforcing the signature (and a type hint MLflow
    # reads as "validate with the signature", so it does not warn that hints are missing)
    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        images = images_from_input(model_input)
        max_pixels = int((params or {}).get("max_pixels", MAX_PIXELS))
        table = predict_images({"model": self.classifier}, images, max_pixels=max_pixels)
        table = table.drop(columns=["image", "model", "label"])
        # an image that could not be predicted: its status and reason, probabilities 0 (JSON has no NaN)
        numeric = ["probability", *(f"p_{c}" for c in self.classifier.class_names)]
        for column in numeric:
            table[column] = table.get(column, pd.Series(index=table.index, dtype=float)).astype(float).fillna(0.0)
        return table.fillna({"reason": "", "prediction": "", "top3": ""}).reset_index(drop=True)


def _signature_and_example(classifier: DigitClassifier, example_png: bytes):
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema

    example = pd.DataFrame({INPUT_COLUMN: [base64.b64encode(example_png).decode()]})
    outputs = [ColSpec("string", c) for c in ("status", "reason", "prediction")]
    outputs += [ColSpec("double", "probability"), ColSpec("string", "top3")]
    outputs += [ColSpec("double", f"p_{c}") for c in classifier.class_names]
    signature = ModelSignature(
        inputs=Schema([ColSpec(AnyType(), INPUT_COLUMN)]),
        outputs=Schema(outputs),
        params=ParamSchema([ParamSpec("max_pixels", "long", MAX_PIXELS)]),
    )
    return signature, example


def example_png(classifier: DigitClassifier, image: np.ndarray) -> bytes:
    """A digit as PNG bytes (the input example of the MLflow model)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8).reshape(classifier.input_shape[1:])).save(buffer, format="PNG")
    return buffer.getvalue()


def log_classifier_model(
    classifier: DigitClassifier,
    name: str,
    example_image: np.ndarray,
    registered_model_name: str | None = None,
    tags: dict[str, str] | None = None,
):
    """Log ``classifier`` as an MLflow model under the active run (and register it); returns
    MLflow's ``ModelInfo``."""
    signature, example = _signature_and_example(classifier, example_png(classifier, example_image))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "classifier.safetensors"
        path.write_bytes(classifier_to_bytes(classifier))
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(MODEL_CODE),
            artifacts={ARTIFACT: str(path)},
            signature=signature,
            input_example=example,
            registered_model_name=registered_model_name,
            tags=tags,
            # written out, not inferred: inference would import the model in a subprocess
            pip_requirements=_requirements(),
            metadata={"practical_dl": json.dumps({"label": classifier.label, "input_shape": classifier.input_shape})},
        )


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in ("torch", "numpy", "pandas", "pillow", "safetensors", "mlflow"):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pass
    pins.append("practical-deep-learning")  # this project: `pip install -e .` in its folder
    return pins


__all__ = ["COLUMNS", "DigitClassifierModel", "images_from_input", "log_classifier_model"]

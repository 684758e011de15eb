"""A person's image -> a prediction: preparation, inference, the MLflow model and the draw-a-digit page.

Kedro-free. ``DigitClassifierModel`` is importable from here because the MLflow models registered
before the package had layers run ``from practical_dl.serving import DigitClassifierModel`` when
they load; it is imported on first use, so the page and the ``predict`` pipeline do not pay for
MLflow.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "DigitClassifierModel":
        from practical_dl.serving.mlflow_model import DigitClassifierModel

        return DigitClassifierModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

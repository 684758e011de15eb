"""Nodes of the ``evaluation`` pipeline: the only place where the test split is read."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from practical_dl import plots, tracking
from practical_dl.classifier import DigitClassifier
from practical_dl.engine import predict
from practical_dl.models import count_parameters
from practical_dl.reporting import metric_values

logger = logging.getLogger(__name__)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """``C[i, j]`` = number of images of class ``i`` predicted as ``j``."""
    return np.bincount(labels.astype(np.int64) * num_classes + predicted, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_scores(matrix: np.ndarray) -> pd.DataFrame:
    """Precision, recall and F1 per class from a confusion matrix."""
    tp = np.diag(matrix).astype(float)
    predicted = matrix.sum(0)
    actual = matrix.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    return pd.DataFrame({"class": range(len(tp)), "support": actual, "precision": precision, "recall": recall, "f1": f1})


def evaluate_model(
    classifier: DigitClassifier,
    training_history: pd.DataFrame,
    test_split: dict[str, np.ndarray],
    model_params: dict[str, Any],
    evaluation_params: dict[str, Any],
) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame, Figure, Figure]:
    """Test error of one trained classifier, with its confusion matrix, per-class scores and mistakes.

    Returns the metrics (JSON), the same for MLflow, the predictions, the per-class table,
    the confusion-matrix figure and a grid of misclassified digits.
    """
    images, labels = test_split["images"], test_split["labels"].astype(np.int64)
    model = classifier.network
    label = classifier.label
    logits = predict(model, images, classifier.standardiser, device=evaluation_params.get("device", "auto"))
    probs = torch.softmax(logits, 1)
    confidence, predicted = probs.max(1)
    predicted = predicted.numpy()
    num_classes = logits.shape[1]
    loss = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels)))
    accuracy = float((predicted == labels).mean())
    metrics = {
        "label": label,
        "architecture": classifier.spec["architecture"]["name"],
        "test_images": int(len(labels)),
        "test_accuracy": accuracy,
        "test_error_percent": 100 * int((predicted != labels).sum()) / len(labels),  # 20.8, not 20.799999999999997
        "test_loss": loss,
        "reference_error_percent": model_params.get("reference_error_percent"),
        "parameters": count_parameters(model),
        "best_epoch": int(training_history["best_epoch"].iloc[-1]),
        "epochs_trained": int(training_history["epoch"].max()),
        "training_seconds": float(training_history["seconds"].sum()),
        "diverged": bool(training_history["diverged"].iloc[-1]) if "diverged" in training_history else False,
    }
    logger.info(
        "%s: test error %.2f%% (%d of %d wrong)", label, metrics["test_error_percent"], int((predicted != labels).sum()), len(labels)
    )
    mlflow_metrics = metric_values({key: metrics[key] for key in ("test_accuracy", "test_error_percent", "test_loss", "parameters")})
    predictions = pd.DataFrame({"index": np.arange(len(labels)), "label": labels, "predicted": predicted, "confidence": confidence.numpy()})
    matrix = confusion_matrix(labels, predicted, num_classes)
    scores = per_class_scores(matrix)
    cm_fig = plots.confusion_matrix_figure(matrix, f"{label}: test confusion matrix ({metrics['test_error_percent']:.2f}% error)")
    wrong = np.flatnonzero(predicted != labels)
    # most confident mistakes first: the most instructive ones
    wrong = wrong[np.argsort(-confidence.numpy()[wrong], kind="stable")][: int(evaluation_params.get("misclassified_to_show", 40))]
    grid = plots.image_grid_figure(
        images[wrong],
        [f"{labels[i]}→{predicted[i]} ({confidence[i]:.0%})" for i in wrong],
        f"{label}: misclassified test digits, true→predicted (confidence); {len(np.flatnonzero(predicted != labels))} in all",
        caption_colours=["firebrick"] * len(wrong),
    )
    return metrics, mlflow_metrics, predictions, scores, cm_fig, grid


def summarise_results(*metrics: dict) -> tuple[pd.DataFrame, str]:
    """The lecture's table: test error of every model beside the lecture's reference column."""
    table = pd.DataFrame(
        [
            {
                "model": m["label"],
                "test error (%)": round(m["test_error_percent"], 2),
                "lecture error (%)": m["reference_error_percent"] if m["reference_error_percent"] is not None else "—",
                "test loss": round(m["test_loss"], 4),
                "parameters": m["parameters"],
                "epochs": m["epochs_trained"],
                "best epoch": m["best_epoch"],
                "training time (s)": round(m["training_seconds"], 1),
                "test images": m["test_images"],
            }
            for m in metrics
        ]
    )
    # the errors with two decimals (0.40, not 0.4), the loss with four, the seconds with one
    decimals = {"test error (%)": ".2f", "test loss": ".4f", "training time (s)": ".1f"}
    markdown = "# Test error on MNIST\n\n" + table.to_markdown(index=False, floatfmt=[decimals.get(c, "g") for c in table.columns]) + "\n"
    return table, markdown


def plot_training_curves(*histories: pd.DataFrame) -> Figure:
    """Training and validation loss and error per epoch for every model."""
    return plots.training_curves_figure({h["model"].iloc[0]: h for h in histories})


def visualise_learned_kernels(
    classifier: DigitClassifier,
    test_split: dict[str, np.ndarray],
    evaluation_params: dict[str, Any],
) -> tuple[Figure, Figure]:
    """The first-layer kernels of a convolutional model and its feature maps for one test digit."""
    images = test_split["images"]
    label = classifier.label
    conv = getattr(classifier.network, "conv1", None)
    if conv is None:
        raise ValueError(f"parameter evaluation.kernels_model: {label} has no first convolution layer (conv1)")
    index = int(evaluation_params.get("feature_map_image", 0))
    if not 0 <= index < len(images):
        raise ValueError(f"parameter evaluation.feature_map_image={index} is outside the {len(images)} test images")
    kernels = conv.weight.detach().cpu().numpy()
    x = classifier.standardise.raw(torch.from_numpy(images[index : index + 1]))
    with torch.inference_mode():
        maps = torch.relu(conv(x.to(conv.weight.device)))[0].cpu().numpy()
    kernels_fig = plots.kernels_figure(
        kernels, f"{label}: learned first-layer kernels ({kernels.shape[0]} of {kernels.shape[-2]}x{kernels.shape[-1]})"
    )
    maps_fig = plots.feature_maps_figure(
        images[index], maps, f"{label}: first-layer feature maps (after ReLU) of test digit {index} (label {test_split['labels'][index]})"
    )
    return kernels_fig, maps_fig


def register_model(classifier: DigitClassifier, test_metrics: dict, test_split: dict[str, np.ndarray], registry: dict[str, Any], *, model: str) -> dict:
    """Log the classifier as an MLflow model (it takes raw images and prepares them itself, see
    ``practical_dl.serving``) and register it as a new version of ``<prefix>_<model>``, tagged
    with its test error."""
    if not registry.get("register", True):
        return {"registered": False}
    tags = {
        "label": classifier.label,
        "test_error_percent": f"{test_metrics['test_error_percent']:.2f}",
        "test_accuracy": f"{test_metrics['test_accuracy']:.4f}",
        "test_images": str(test_metrics["test_images"]),
    }
    return tracking.register_classifier(
        classifier, f"{model}_pyfunc", f"{registry.get('name_prefix', 'practical_dl')}_{model}", test_split["images"][0], tags
    )

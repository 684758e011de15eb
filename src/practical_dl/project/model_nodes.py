"""The nodes every trained classifier goes through: training, evaluation, registration."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from practical_dl.core.config import AugmentConfig
from practical_dl.core.lazy import on_first_use
from practical_dl.project import tracking
from practical_dl.project.figures import confusion_matrix_figure, image_grid_figure
from practical_dl.project.parameters import (
    EvaluationParameters,
    ModelSpec,
    RegistryParameters,
    TrainingOverrides,
    TrainingSettings,
    training_settings,
)
from practical_dl.project.reporting import metric_values

# imported when Kedro resolves the nodes' annotations before a run, or a node uses them: not when the pipeline is built
classifier_module = on_first_use("practical_dl.models.classifier")

logger = logging.getLogger(__name__)


def train_model(
    train_split: dict[str, np.ndarray],
    validation_split: dict[str, np.ndarray],
    standardisation_stats: dict,
    model_params: ModelSpec,
    training_params: TrainingOverrides,
    training_defaults: TrainingSettings,
    augmentation_params: AugmentConfig,
    *,
    model: str = "model",
) -> tuple[classifier_module.DigitClassifier, pd.DataFrame]:
    """Train one model (adversarially, when its ``training.adversarial`` is set); keep the
    weights of its best validation epoch.

    Returns the trained classifier (the network with the standardisation it was trained with,
    see ``practical_dl.models.classifier``) and the per-epoch history as a table. Each epoch's metrics go
    to MLflow as the epoch ends (``<model>.train_loss``, ``<model>.val_accuracy``, ..., step =
    epoch; ``practical_dl.project.tracking.EpochMetrics``).

    Launched by ``torchrun``, every process trains on its part of each batch
    (``practical_dl.core.distributed``); only rank 0 saves checkpoints and logs to MLflow.

    The training state is saved after every ``checkpoint_every`` epochs to
    ``<checkpoint_dir>/<model>.safetensors``; the next run with the same settings goes on from
    it (a model whose training had finished is not trained again), unless ``resume`` is off.
    """
    from practical_dl.models.classifier import make_classifier
    from practical_dl.project.trainer import Network, RunIdentity, TrainingData, train_classifier
    from practical_dl.project.training_setup import input_standardiser

    config = training_settings(training_defaults, training_params, where=f"{model}.training")
    channels = train_split["images"].shape[1]
    data = TrainingData(train_split, validation_split, input_standardiser(config, standardisation_stats, channels))
    who = RunIdentity(name=model, label=model_params.display_name, where=f"{model}.training")
    result = train_classifier(Network.of(model_params, f"{model}.model"), data, config, who, augmentation_params).fit
    label = who.display_name
    history = pd.DataFrame(result.history)
    history.insert(0, "model", label)
    history["best_epoch"] = result.best_epoch
    history["diverged"] = result.diverged
    image_size = train_split["images"].shape[-1]
    classifier = make_classifier(result.model.to("cpu"), data.standardiser, model_params.to_dict(), channels, image_size)
    return classifier, history


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
    classifier: classifier_module.DigitClassifier,
    training_history: pd.DataFrame,
    test_split: dict[str, np.ndarray],
    model_params: ModelSpec,
    evaluation_params: EvaluationParameters,
) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame, Figure, Figure]:
    """Test error of one trained classifier, with its confusion matrix, per-class scores and mistakes.

    Returns the metrics (JSON), the same for MLflow, the predictions, the per-class table,
    the confusion-matrix figure and a grid of misclassified digits.
    """
    import torch

    from practical_dl.core.engine import predict
    from practical_dl.models.networks import count_parameters

    images, labels = test_split["images"], test_split["labels"].astype(np.int64)
    model = classifier.network
    label = classifier.label
    logits = predict(model, images, classifier.standardiser, device=evaluation_params.device)
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
        "reference_error_percent": model_params.reference_error_percent,
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
    cm_fig = confusion_matrix_figure(matrix, f"{label}: test confusion matrix ({metrics['test_error_percent']:.2f}% error)")
    wrong = np.flatnonzero(predicted != labels)
    # most confident mistakes first: the most instructive ones
    wrong = wrong[np.argsort(-confidence.numpy()[wrong], kind="stable")][: evaluation_params.misclassified_to_show]
    grid = image_grid_figure(
        images[wrong],
        [f"{labels[i]}→{predicted[i]} ({confidence[i]:.0%})" for i in wrong],
        f"{label}: misclassified test digits, true→predicted (confidence); {len(np.flatnonzero(predicted != labels))} in all",
        caption_colours=["firebrick"] * len(wrong),
    )
    return metrics, mlflow_metrics, predictions, scores, cm_fig, grid


def register_model(
    classifier: classifier_module.DigitClassifier,
    test_metrics: dict,
    test_split: dict[str, np.ndarray],
    registry: RegistryParameters,
    *,
    model: str,
) -> dict:
    """Log the classifier as an MLflow model (it takes raw images and prepares them itself, see
    ``practical_dl.serving.mlflow_model``) and register it as a new version of ``<prefix>_<model>``, tagged
    with its test error."""
    if not registry.enabled:
        return {"registered": False}
    tags = {
        "label": classifier.label,
        "test_error_percent": f"{test_metrics['test_error_percent']:.2f}",
        "test_accuracy": f"{test_metrics['test_accuracy']:.4f}",
        "test_images": str(test_metrics["test_images"]),
    }
    return tracking.register_classifier(classifier, f"{model}_pyfunc", f"{registry.name_prefix}_{model}", test_split["images"][0], tags)

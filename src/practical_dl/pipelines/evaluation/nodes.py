"""Nodes of the ``evaluation`` pipeline: the summary table, the training curves and the learned kernels.

Each model's own evaluation on the test split and its registration are the nodes every trained
classifier goes through (:mod:`practical_dl.project.model_nodes`)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from practical_dl.core.lazy import on_first_use
from practical_dl.pipelines.evaluation.figures import feature_maps_figure, kernels_figure, training_curves_figure
from practical_dl.project.parameters import EvaluationParameters
from practical_dl.project.reporting import Claim, Report

# imported when Kedro resolves the nodes' annotations before a run, or a node uses them: not when the pipeline is built
torch = on_first_use("torch")
classifier_module = on_first_use("practical_dl.models.classifier")

logger = logging.getLogger(__name__)


def summarise_results(*metrics: dict) -> tuple[pd.DataFrame, Report]:
    """The lecture's table: test error of every model beside the lecture's reference column, and the
    lecture's claim on each of its models (test error under the lecture's)."""
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
    markdown = table.to_markdown(index=False, floatfmt=[decimals.get(c, "g") for c in table.columns])
    claims = [
        Claim.from_margin(
            f"{m['label']} trains to a test error under the lecture's {m['reference_error_percent']:.2f}%",
            m["reference_error_percent"] - m["test_error_percent"],
            0.0,
            f"{m['test_error_percent']:.2f}% against {m['reference_error_percent']:.2f}%",
        )
        for m in metrics
        if m["reference_error_percent"] is not None
    ]
    report = Report("Test error on MNIST", claims=claims, tables={"Every model": markdown}, tables_first=True)
    return table, report


def plot_training_curves(*histories: pd.DataFrame) -> Figure:
    """Training and validation loss and error per epoch for every model."""
    return training_curves_figure({h["model"].iloc[0]: h for h in histories})


def visualise_learned_kernels(
    classifier: classifier_module.DigitClassifier,
    test_split: dict[str, np.ndarray],
    evaluation_params: EvaluationParameters,
) -> tuple[Figure, Figure]:
    """The first-layer kernels of a convolutional model and its feature maps for one test digit."""
    images = test_split["images"]
    label = classifier.label
    conv = getattr(classifier.network, "conv1", None)
    if conv is None:
        raise ValueError(f"parameter evaluation.kernels_model: {label} has no first convolution layer (conv1)")
    index = evaluation_params.feature_map_image
    if index >= len(images):
        raise ValueError(f"parameter evaluation.feature_map_image={index} is outside the {len(images)} test images")
    kernels = conv.weight.detach().cpu().numpy()
    x = classifier.standardise.raw(torch.from_numpy(images[index : index + 1]))
    with torch.inference_mode():
        maps = torch.relu(conv(x.to(conv.weight.device)))[0].cpu().numpy()
    kernels_fig = kernels_figure(
        kernels, f"{label}: learned first-layer kernels ({kernels.shape[0]} of {kernels.shape[-2]}x{kernels.shape[-1]})"
    )
    maps_fig = feature_maps_figure(
        images[index], maps, f"{label}: first-layer feature maps (after ReLU) of test digit {index} (label {test_split['labels'][index]})"
    )
    return kernels_fig, maps_fig

"""How far a classifier's confidence can be trusted, and ensembles of its probabilities (plain
NumPy and PyTorch, usable without Kedro)::

    from practical_dl.methods.calibration import reliability, mc_dropout_probabilities
    probabilities = mc_dropout_probabilities(model, test_images, standardiser, samples=32)
    print(reliability(probabilities, test_labels)["ece"])

A classifier is *calibrated* when, of the images it gives confidence 0.9, 90% are right. The
expected calibration error (ECE, Guo et al. 2017) is the gap between confidence and accuracy
averaged over equal-width confidence bins, weighted by how many images fall in each.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from practical_dl.core.engine import predict
from practical_dl.core.standardise import Standardiser


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict:
    """Per equal-width confidence bin: images, mean confidence and accuracy; and the ECE."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or len(probabilities) != len(labels) or not len(labels):
        raise ValueError(f"probabilities must be N x classes for N labels, got {probabilities.shape} for {labels.shape}")
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)  # confidence 1.0 falls in the last bin
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, confidence, bins) / count
        accuracy = np.bincount(which, correct.astype(float), bins) / count
    gaps = np.where(count > 0, np.abs(accuracy - mean_confidence), 0.0)
    return {
        "edges": np.linspace(0, 1, bins + 1).tolist(),
        "count": count.tolist(),
        "confidence": np.nan_to_num(mean_confidence, nan=0.0).tolist(),
        "accuracy": np.nan_to_num(accuracy, nan=0.0).tolist(),
        "ece": float((count / len(labels) * gaps).sum()),
    }


def mean_probabilities(logits: list[torch.Tensor] | list[np.ndarray]) -> np.ndarray:
    """The average of the members' softmax probabilities: an ensemble's prediction."""
    return np.mean([torch.softmax(torch.as_tensor(x, dtype=torch.float32), 1).numpy() for x in logits], axis=0)


def mc_dropout_probabilities(
    model: nn.Module, images: np.ndarray, standardiser: Standardiser, samples: int, seed: int = 0, device: str = "auto"
) -> np.ndarray:
    """The average softmax over ``samples`` forward passes with the dropout layers dropping
    (Monte-Carlo dropout): the ensemble of thinned networks that dropout trains, sampled."""
    if not any(isinstance(m, nn.Dropout) for m in model.modules()):
        raise ValueError("the model has no dropout layer to sample")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    torch.manual_seed(seed)
    return mean_probabilities([predict(model, images, standardiser, device=device, sample_dropout=True) for _ in range(samples)])

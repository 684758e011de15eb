"""Calibration (reliability bins, ECE), ensembles of probabilities, Monte-Carlo dropout."""

import numpy as np
import pytest
import torch

from practical_dl.core.engine import predict
from practical_dl.core.standardise import Standardiser
from practical_dl.methods.calibration import mc_dropout_probabilities, mean_probabilities, reliability
from practical_dl.models.networks import SimpLeNet


def test_a_calibrated_classifier_has_no_calibration_error_and_an_overconfident_one_has():
    labels = np.array([0] * 8 + [1] * 2)
    honest = np.tile([0.8, 0.2], (10, 1))  # says 0 with 80%, right 8 times in 10
    assert reliability(honest, labels, bins=10)["ece"] == pytest.approx(0.0)
    sure = np.tile([1.0, 0.0], (10, 1))  # says 0 with 100%, right 8 times in 10
    rel = reliability(sure, labels, bins=10)
    assert rel["ece"] == pytest.approx(0.2)
    assert rel["count"][-1] == 10 and rel["accuracy"][-1] == pytest.approx(0.8)  # confidence 1.0 is in the last bin
    assert sum(rel["count"]) == 10 and len(rel["edges"]) == 11


def test_bad_reliability_inputs_are_named():
    with pytest.raises(ValueError, match="bins"):
        reliability(np.ones((2, 2)) / 2, np.array([0, 1]), bins=0)
    with pytest.raises(ValueError, match="N x classes for N labels"):
        reliability(np.ones((3, 2)) / 2, np.array([0, 1]))


def test_an_ensemble_averages_probabilities_not_logits():
    a, b = torch.tensor([[10.0, 0.0]]), torch.tensor([[0.0, 0.0]])
    assert mean_probabilities([a, b])[0, 0] == pytest.approx((torch.softmax(a, 1)[0, 0] + 0.5) / 2)


def test_monte_carlo_dropout_samples_thinned_networks_reproducibly():
    torch.manual_seed(0)
    model = SimpLeNet(dropout=0.5)
    images = np.random.default_rng(0).integers(0, 256, (20, 1, 28, 28), dtype=np.uint8)
    standardiser = Standardiser(mean=(33.0,), std=(78.0,))
    one_pass = torch.softmax(predict(model, images, standardiser, device="cpu"), 1).numpy()
    first = mc_dropout_probabilities(model, images, standardiser, samples=4, seed=1, device="cpu")
    assert not np.allclose(first, one_pass)  # dropout was on
    assert np.array_equal(first, mc_dropout_probabilities(model, images, standardiser, samples=4, seed=1, device="cpu"))
    assert np.allclose(first.sum(1), 1, atol=1e-5)
    assert np.array_equal(one_pass, torch.softmax(predict(model, images, standardiser, device="cpu"), 1).numpy())  # back to evaluation
    with pytest.raises(ValueError, match="no dropout layer"):
        mc_dropout_probabilities(SimpLeNet(), images, standardiser, samples=2)

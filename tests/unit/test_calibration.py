"""Calibration (reliability bins, ECE), ensembles of probabilities, Monte-Carlo dropout, and the
``dropout_ensemble`` pipeline's parameters and verdicts."""

import copy

import numpy as np
import pytest
import torch
import yaml

from practical_dl.calibration import mc_dropout_probabilities, mean_probabilities, reliability
from practical_dl.engine import predict
from practical_dl.models import SimpLeNet
from practical_dl.pipelines.dropout_ensemble.nodes import check_dropout_ensemble_parameters, ensemble_members, report_dropout_ensemble
from practical_dl.standardise import Standardiser
from tests.unit.test_batch_lr import DEFAULTS
from tests.unit.test_environments import ROOT

BASE = yaml.safe_load((ROOT / "conf" / "base" / "parameters_dropout_ensemble.yml").read_text())["dropout_ensemble"]


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


def test_members_and_bad_parameters_named():
    assert ensemble_members(BASE) == [f"plain_{i}" for i in range(1, 9)] + ["dropout"]
    check_dropout_ensemble_parameters(BASE, DEFAULTS)
    for change, named in (
        ({"ensemble_sizes": [2, 16]}, r"ensemble_sizes\[1\] is 16, more than the 8 members"),
        ({"ensemble_sizes": [4, 2]}, r"ensemble_sizes must be increasing"),
        ({"dropout": 1.0}, r"dropout_ensemble\.dropout"),
        ({"mc_samples": 0}, r"dropout_ensemble\.mc_samples"),
        ({"training": {"epochs": -1}}, r"dropout_ensemble\.training\.epochs"),
        ({"committee": 3}, r"dropout_ensemble\.committee"),
    ):
        with pytest.raises(ValueError, match=named):
            check_dropout_ensemble_parameters(copy.deepcopy(BASE) | change, DEFAULTS)


def _probabilities(labels, right, confidence, seed):
    """Probabilities that put ``confidence`` on the label for the first ``right`` images and on
    another class for the rest."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    chosen = labels.copy()
    wrong = rng.permutation(n)[: n - right]
    chosen[wrong] = (labels[wrong] + 1) % 10
    p = np.full((n, 10), (1 - confidence) / 9, dtype=np.float32)
    p[np.arange(n), chosen] = confidence
    return p


def test_the_verdicts_follow_the_numbers():
    labels = np.arange(1000) % 10
    params = {"dropout": 0.5, "ensemble_sizes": [2], "mc_samples": 4, "calibration_bins": 10}
    plain = [_probabilities(labels, 950, 0.99, s) for s in (1, 2)]
    pairs = []
    for i, p in enumerate(plain, 1):
        pairs += [{"member": f"plain_{i}", "train_images": 100, "history": [{}]}, {"probabilities": p}]
    drop = {"probabilities": _probabilities(labels, 990, 0.99, 3), "mc_probabilities": _probabilities(labels, 992, 0.98, 4)}
    pairs += [{"member": "dropout", "train_images": 100, "history": [{}]}, drop]
    out = report_dropout_ensemble(params, {"labels": labels.astype(np.uint8)}, *pairs)
    report = out["report"]
    assert "Dropout improves on one network trained without it: **confirmed** — 1.00% against 5.00%" in report
    assert "as accurate as an ensemble of independently trained networks: **confirmed** — it is as accurate as an ensemble of 2 (one training instead of 2)" in report
    assert "(MC dropout) is at least as accurate as the one pass of the weight-scaling rule: **confirmed** — 0.80% against 1.00%" in report
    assert list(out["table"]["networks trained"]) == [1, 2, 1, 1]
    assert [m["step"] for m in out["metrics"]["ensemble_test_error"]] == [1, 2]
    worse = dict(drop, probabilities=_probabilities(labels, 900, 0.99, 3))
    report = report_dropout_ensemble(params, {"labels": labels.astype(np.uint8)}, *pairs[:-1], worse)["report"]
    assert "Dropout improves on one network trained without it: **not confirmed by this run** — 10.00% against 5.00%" in report

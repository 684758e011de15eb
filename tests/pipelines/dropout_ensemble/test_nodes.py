"""The dropout_ensemble pipeline's nodes: its members, its parameter checks and its report's verdicts."""

import copy

import numpy as np
import pytest
import yaml

from practical_dl.pipelines.dropout_ensemble.nodes import check_dropout_ensemble_parameters, ensemble_members, report_dropout_ensemble
from tests.conftest import ROOT
from tests.conftest import TRAINING_DEFAULTS as DEFAULTS

BASE = yaml.safe_load((ROOT / "conf" / "base" / "parameters_dropout_ensemble.yml").read_text())["dropout_ensemble"]


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
    assert (
        "as accurate as an ensemble of independently trained networks: **confirmed** — "
        "it is as accurate as an ensemble of 2 (one training instead of 2)" in report
    )
    assert "(MC dropout) is at least as accurate as the one pass of the weight-scaling rule: **confirmed** — 0.80% against 1.00%" in report
    assert list(out["table"]["networks trained"]) == [1, 2, 1, 1]
    assert [m["step"] for m in out["metrics"]["ensemble_test_error"]] == [1, 2]
    worse = dict(drop, probabilities=_probabilities(labels, 900, 0.99, 3))
    report = report_dropout_ensemble(params, {"labels": labels.astype(np.uint8)}, *pairs[:-1], worse)["report"]
    assert "Dropout improves on one network trained without it: **not confirmed by this run** — 10.00% against 5.00%" in report

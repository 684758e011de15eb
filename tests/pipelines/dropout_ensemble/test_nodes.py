"""The dropout_ensemble pipeline's nodes: its members, its parameter checks and its report's verdicts."""

import copy

import numpy as np
import pytest

from practical_dl.core.params import ParameterError
from practical_dl.pipelines.dropout_ensemble.nodes import (
    DropoutEnsembleParameters,
    MethodScores,
    check_dropout_ensemble_claims,
    compare_methods,
    ensemble_members,
    member_spec,
    report_dropout_ensemble,
)
from practical_dl.project.parameters import TrainingSettings
from practical_dl.project.reporting import Verdict, render_report
from practical_dl.project.sweeps import MemberSummary
from tests.conftest import TRAINING_DEFAULTS as DEFAULTS
from tests.conftest import shipped_parameters

BASE = shipped_parameters("dropout_ensemble")


def _params(raw):
    return DropoutEnsembleParameters.from_dict(raw, "dropout_ensemble")


def test_members_and_bad_parameters_named():
    assert ensemble_members(_params(BASE)) == [f"plain_{i}" for i in range(1, 9)] + ["dropout"]
    for change, named in (
        ({"ensemble_sizes": [2, 16]}, r"ensemble_sizes\[1\] is 16, more than the 8 members"),
        ({"ensemble_sizes": [4, 2]}, r"dropout_ensemble\.ensemble_sizes: must be increasing, got \[4, 2\]"),
        ({"ensemble_sizes": []}, r"dropout_ensemble\.ensemble_sizes: must be a non-empty list"),
        ({"ensemble_sizes": [0, 2]}, r"dropout_ensemble\.ensemble_sizes\[0\]: must be > 0, got 0"),
        ({"dropout": 1.0}, r"dropout_ensemble\.dropout: must be < 1, got 1\.0"),
        ({"dropout": 0}, r"dropout_ensemble\.dropout: must be > 0, got 0"),
        ({"members": 0}, r"dropout_ensemble\.members: must be > 0, got 0"),
        ({"mc_samples": 0}, r"dropout_ensemble\.mc_samples: must be > 0, got 0"),
        ({"calibration_bins": 2.5}, r"dropout_ensemble\.calibration_bins: must be an integer, got 2\.5"),
        ({"train_limit": -1}, r"dropout_ensemble\.train_limit: must be > 0, got -1"),
        ({"training": {"epochs": -1}}, r"dropout_ensemble\.training\.epochs: must be > 0, got -1"),
        ({"model": {"name": "simplenet", "options": {"p": 0.5}}}, r"dropout_ensemble\.model: options \['p'\] are not options"),
        ({"committee": 3}, r"unknown parameter dropout_ensemble\.committee: remove it"),
    ):
        with pytest.raises(ParameterError, match=named):
            _params(copy.deepcopy(BASE) | change)


def test_the_members_differ_only_in_dropout_and_seed():
    params, defaults = _params(BASE), TrainingSettings.from_dict(DEFAULTS)
    plain, plain_config = member_spec(params, defaults, "plain_3")
    drop, drop_config = member_spec(params, defaults, "dropout")
    assert plain.to_dict() == BASE["model"] | {"options": {"dropout": 0.0}}
    assert drop.to_dict() == BASE["model"] | {"options": {"dropout": BASE["dropout"]}}
    assert (plain_config.seed, drop_config.seed) == (BASE["seed"] + 3, BASE["seed"])
    assert plain_config.to_dict() | {"seed": 0} == drop_config.to_dict() | {"seed": 0}


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


def _summary(member):
    """A member's summary: one epoch on 100 images."""
    return MemberSummary(
        sweep="dropout_ensemble",
        member=member,
        value=member,
        batch_size=32,
        lr=0.01,
        train_images=100,
        history=[{}],
        test_error_percent=0.0,
        seconds_per_epoch=1.0,
        diverged=False,
    )


LABELS = np.arange(1000) % 10


def _setting():
    """Two plain networks (95% right), a dropout network (99%) and its MC average (99.2%)."""
    params = _params(BASE | {"dropout": 0.5, "members": 2, "ensemble_sizes": [2], "mc_samples": 4, "calibration_bins": 10})
    plain = [_probabilities(LABELS, 950, 0.99, s) for s in (1, 2)]
    pairs = []
    for i, p in enumerate(plain, 1):
        pairs += [_summary(f"plain_{i}"), {"probabilities": p}]
    drop = {"probabilities": _probabilities(LABELS, 990, 0.99, 3), "mc_probabilities": _probabilities(LABELS, 992, 0.98, 4)}
    return params, plain, pairs + [_summary("dropout"), drop]


def test_the_verdicts_follow_the_numbers():
    params, _, pairs = _setting()
    out = report_dropout_ensemble(params, {"labels": LABELS.astype(np.uint8)}, *pairs)
    report = render_report(out["report"])
    assert "Dropout improves on one network trained without it: **holds** — 1.00% against 5.00%" in report
    assert (
        "as accurate as an ensemble of independently trained networks: **holds** — "
        "it is as accurate as an ensemble of 2 (one training instead of 2)" in report
    )
    assert "(MC dropout) is at least as accurate as the one pass of the weight-scaling rule: **holds** — 0.80% against 1.00%" in report
    assert list(out["table"]["networks trained"]) == [1, 2, 1, 1]
    assert [m["step"] for m in out["metrics"]["ensemble_test_error"]] == [1, 2]
    worse = dict(pairs[-1], probabilities=_probabilities(LABELS, 900, 0.99, 3))
    report = render_report(report_dropout_ensemble(params, {"labels": LABELS.astype(np.uint8)}, *pairs[:-1], worse)["report"])
    assert "Dropout improves on one network trained without it: **contradicted** — 10.00% against 5.00%" in report


def test_the_report_renders_every_claim():
    params, plain, pairs = _setting()
    report = render_report(report_dropout_ensemble(params, {"labels": LABELS.astype(np.uint8)}, *pairs)["report"])
    claims = check_dropout_ensemble_claims(compare_methods(params, LABELS, plain, pairs[-1]))
    # here averaging two networks that are wrong on different images makes them less sure of the right ones: the ECE rises
    assert [claim.verdict for claim in claims] == [Verdict.HOLDS] * 3 + [Verdict.CONTRADICTED]
    assert report.startswith("# Dropout as an ensemble: what these runs show\n")
    for claim in claims:
        assert claim.line() in report.splitlines()
    assert report.index("## The lecture's claims") < report.index("## Every model")


def test_the_scores_of_a_method():
    right = _probabilities(LABELS, 950, 0.99, 1)
    scores = MethodScores.of(right, LABELS, 10)
    assert scores.error == pytest.approx(5.0) and scores.nll == pytest.approx(-(0.95 * np.log(0.99) + 0.05 * np.log(0.01 / 9)))
    assert scores.ece == scores.reliability["ece"]
    mean = MethodScores.mean([scores, MethodScores(error=1.0, nll=0.5, ece=0.25)])
    assert (mean.error, mean.ece, mean.reliability) == (pytest.approx(3.0), pytest.approx((scores.ece + 0.25) / 2), None)

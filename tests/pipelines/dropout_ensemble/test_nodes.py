"""The dropout_ensemble pipeline's nodes: its members, its parameter checks and its report's verdicts."""

import copy

import numpy as np
import pytest

from practical_dl.core.params import ParameterError
from practical_dl.pipelines.dropout_ensemble.nodes import (
    Comparison,
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
    assert ensemble_members(_params(BASE)) == [f"plain_{i}" for i in range(1, 9)] + ["dropout_1", "dropout_2", "dropout_3"]
    for change, named in (
        ({"ensemble_sizes": [2, 16]}, r"ensemble_sizes\[1\] is 16, more than the 8 members"),
        ({"ensemble_sizes": [4, 2]}, r"dropout_ensemble\.ensemble_sizes: must be increasing, got \[4, 2\]"),
        ({"ensemble_sizes": []}, r"dropout_ensemble\.ensemble_sizes: must be a non-empty list"),
        ({"ensemble_sizes": [0, 2]}, r"dropout_ensemble\.ensemble_sizes\[0\]: must be > 0, got 0"),
        ({"dropout": 1.0}, r"dropout_ensemble\.dropout: must be < 1, got 1\.0"),
        ({"dropout": 0}, r"dropout_ensemble\.dropout: must be > 0, got 0"),
        ({"members": 0}, r"dropout_ensemble\.members: must be > 0, got 0"),
        ({"dropout_members": 0}, r"dropout_ensemble\.dropout_members: must be > 0, got 0"),
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
    drop, drop_config = member_spec(params, defaults, "dropout_1")
    assert plain.to_dict() == BASE["model"] | {"options": {"dropout": 0.0}}
    assert drop.to_dict() == BASE["model"] | {"options": {"dropout": BASE["dropout"]}}
    assert (plain_config.seed, drop_config.seed) == (BASE["seed"] + 3, BASE["seed"])
    assert plain_config.to_dict() | {"seed": 0} == drop_config.to_dict() | {"seed": 0}
    seeds = [member_spec(params, defaults, m)[1].seed for m in ensemble_members(params)]
    assert len(set(seeds)) == len(seeds) and member_spec(params, defaults, "dropout_2")[1].seed == BASE["seed"] + BASE["members"] + 1


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
    """Four plain networks (94–96% right), two dropout networks (98.8%, 99%) and their MC averages (99.1%, 99.2%)."""
    params = _params(
        BASE | {"dropout": 0.5, "members": 4, "dropout_members": 2, "ensemble_sizes": [2], "mc_samples": 4, "calibration_bins": 10}
    )
    plain = [_probabilities(LABELS, r, c, s) for r, c, s in ((950, 0.99, 1), (940, 0.9, 2), (960, 0.95, 3), (950, 0.93, 4))]
    pairs = []
    for i, p in enumerate(plain, 1):
        pairs += [_summary(f"plain_{i}"), {"probabilities": p}]
    dropout = [
        {"probabilities": _probabilities(LABELS, right, 0.99, seed), "mc_probabilities": _probabilities(LABELS, mc, 0.98, seed + 10)}
        for right, mc, seed in ((990, 992, 5), (988, 991, 6))
    ]
    for j, d in enumerate(dropout, 1):
        pairs += [_summary(f"dropout_{j}"), d]
    return params, plain, dropout, pairs


def test_the_verdicts_follow_the_means_and_their_spread():
    params, _, _, pairs = _setting()
    out = report_dropout_ensemble(params, {"labels": LABELS.astype(np.uint8)}, *pairs)
    report = render_report(out["report"])
    assert (
        "Dropout improves on one network trained without it: **holds** — 1.10 ± 0.14% (n = 2) against 5.00 ± 0.82% (n = 4) "
        "(the 4 networks: 4.00–6.00%); spread: the root-sum-square of the two standard deviations, 0.83." in report
    )
    assert (
        "as accurate as an ensemble of independently trained networks: **holds** — "
        "on average it is as accurate as an ensemble of 2 (one training instead of 2)" in report
    )
    assert (
        "(MC dropout) is at least as accurate as the one pass of the weight-scaling rule: **holds** — 0.85 ± 0.07% (n = 2) against 1.10"
        in report
    )
    assert list(out["table"]["networks trained"]) == [1, 2, 1, 1] and list(out["table"]["n"]) == [4, 2, 2, 2]
    assert list(out["table"]["test error (%) std"]) == [0.82, 0.71, 0.14, 0.07]
    assert [m["step"] for m in out["metrics"]["ensemble_test_error"]] == [1, 2]
    assert out["metrics"]["dropout_test_error_std"] == [{"step": 0, "value": pytest.approx(np.std([1.0, 1.2], ddof=1))}]
    worse = [
        dict(pairs[-3], probabilities=_probabilities(LABELS, 900, 0.99, 3)),
        pairs[-2],
        dict(pairs[-1], probabilities=_probabilities(LABELS, 890, 0.99, 4)),
    ]
    report = render_report(report_dropout_ensemble(params, {"labels": LABELS.astype(np.uint8)}, *pairs[:-3], *worse)["report"])
    assert "Dropout improves on one network trained without it: **contradicted** — 10.50 ± 0.71% (n = 2) against 5.00" in report


def _scores(*errors):
    return [MethodScores(error=e, nll=0.1, ece=0.01) for e in errors]


def test_a_margin_inside_the_spread_is_not_shown_and_one_outside_it_holds():
    def verdict(singles, dropout):
        comparison = Comparison(_scores(*singles), {1: _scores(*singles)}, _scores(*dropout), _scores(*dropout), samples=4)
        return check_dropout_ensemble_claims(comparison)[0]

    # one network 2.0 ± 1.0%, dropout 1.7 ± 0.1%: a margin of 0.3 points inside a spread of 1.005
    inside = verdict((1.0, 2.0, 3.0), (1.6, 1.8, 1.7))
    assert (
        inside.verdict is Verdict.NOT_SHOWN and inside.margin == pytest.approx(0.3) and inside.spread == pytest.approx(np.hypot(1.0, 0.1))
    )
    # one network 2.0 ± 0.1%, dropout 1.0 ± 0.1%: a margin of 1.0 outside a spread of 0.14
    outside = verdict((2.0, 2.1, 1.9), (1.0, 1.1, 0.9))
    assert outside.verdict is Verdict.HOLDS and outside.margin == pytest.approx(1.0)
    assert verdict((2.0, 2.1, 1.9), (3.0, 3.1, 2.9)).verdict is Verdict.CONTRADICTED
    one = verdict((2.0, 2.1, 1.9), (1.0,))  # one dropout network: no spread
    assert one.verdict is Verdict.NOT_SHOWN and "one run on a side" in one.evidence


def test_the_report_renders_every_claim():
    params, plain, dropout, pairs = _setting()
    report = render_report(report_dropout_ensemble(params, {"labels": LABELS.astype(np.uint8)}, *pairs)["report"])
    claims = check_dropout_ensemble_claims(compare_methods(params, LABELS, plain, dropout))
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

"""The ``batch_lr`` pipeline: its grid of members, its parameters, the heat map's grid and the
verdicts of its report."""

import copy
import math

import pytest

from practical_dl.core.params import ParameterError
from practical_dl.pipelines.batch_lr.nodes import (
    BatchLrParameters,
    check_batch_lr_claims,
    error_grid,
    grid_members,
    member_settings,
    report_batch_lr,
)
from practical_dl.project.figures import close
from practical_dl.project.parameters import TrainingSettings
from practical_dl.project.reporting import Verdict, render_report
from practical_dl.project.sweeps import MemberSummary
from tests.conftest import TRAINING_DEFAULTS as DEFAULTS
from tests.conftest import shipped_parameters

BASE = shipped_parameters("batch_lr")


def _params(raw):
    return BatchLrParameters.from_dict(raw, "batch_lr")


def test_one_member_per_pair_with_names_kedro_accepts():
    members = grid_members(_params(BASE))
    assert len(members) == len(BASE["batch_sizes"]) * len(BASE["learning_rates"])
    assert set(members.values()) == {(b, float(r)) for b in BASE["batch_sizes"] for r in BASE["learning_rates"]}
    assert members[("bs_4", "lr_0p0001")] == (4, 0.0001)
    assert members[("bs_1024", "lr_1")] == (1024, 1.0)
    assert all("." not in part and "-" not in part for pair in members for part in pair)
    assert grid_members(_params(BASE | {"batch_sizes": [8], "learning_rates": [1e-05]})) == {("bs_8", "lr_1em05"): (8, 1e-05)}


def test_a_pair_trains_with_its_batch_size_and_learning_rate_over_the_block_and_the_defaults():
    config = member_settings(_params(BASE), TrainingSettings.from_dict(DEFAULTS), 16, 0.1)
    assert (config.batch_size, config.lr, config.epochs, config.schedule) == (16, 0.1, BASE["training"]["epochs"], "constant")


@pytest.mark.parametrize(
    "change, named",
    [
        ({"batch_sizes": [64, 4]}, r"batch_lr\.batch_sizes: must be increasing, got \[64, 4\]"),
        ({"batch_sizes": [4, 0]}, r"batch_lr\.batch_sizes\[1\]: must be > 0, got 0"),
        ({"batch_sizes": [4, 16.0]}, r"batch_lr\.batch_sizes\[1\]: must be an integer, got 16\.0"),
        ({"learning_rates": [0.1, -1.0]}, r"batch_lr\.learning_rates\[1\]: must be > 0, got -1\.0"),
        ({"learning_rates": []}, r"batch_lr\.learning_rates: must be a non-empty list"),
        ({"training": {"lr": 0.1}}, r"batch_lr\.training: batch_size and lr are set by batch_lr\.batch_sizes and batch_lr\.learning_rates"),
        ({"training": {"batch_size": 8}}, r"batch_lr\.training: batch_size and lr are set by"),
        ({"training": {"epochs": 0}}, r"batch_lr\.training\.epochs: must be > 0, got 0"),
        ({"model": {"name": "resnet"}}, r"batch_lr\.model\.name: must be one of .*simplenet"),
        ({"model": {"name": "simplenet", "options": {"dropuot": 0.5}}}, r"batch_lr\.model: options \['dropuot'\] are not options"),
        ({"train_limit": 0}, r"batch_lr\.train_limit: must be > 0, got 0"),
        ({"not_learning_percent": 100}, r"batch_lr\.not_learning_percent: must be < 100, got 100"),
        ({"grid": 3}, r"unknown parameter batch_lr\.grid: remove it"),
    ],
)
def test_bad_parameters_are_named(change, named):
    with pytest.raises(ParameterError, match=named):
        _params(copy.deepcopy(BASE) | change)


def _result(batch, lr, error, seconds=1.0, diverged=False):
    return MemberSummary(
        sweep="batch_lr",
        member=f"bs_{batch}.lr_{lr:g}",
        value=None,
        batch_size=batch,
        lr=lr,
        test_error_percent=math.nan if diverged else error,
        diverged=diverged,
        seconds_per_epoch=seconds,
        train_images=1000,
        history=[{}, {}],
    )


GRID = {"batch_sizes": [4, 64, 1024], "learning_rates": [0.001, 0.01, 0.1, 1.0], "training": {"epochs": 2}}


def _results(errors, seconds=(9.0, 2.0, 3.0)):
    return [
        _result(b, lr, e, s, diverged=e is None)
        for (b, s), row in zip(zip(GRID["batch_sizes"], seconds), errors)
        for lr, e in zip(GRID["learning_rates"], row)
    ]


def _report(errors, seconds=(9.0, 2.0, 3.0)):
    """The node's outputs, its report rendered as the catalog writes it."""
    out = report_batch_lr(_params(BASE | GRID), *_results(errors, seconds))
    return out | {"report": render_report(out["report"])}


def test_the_heat_map_and_the_table_have_the_grid_of_the_parameters():
    out = _report([[5, 2, None, None], [20, 4, 3, None], [90, 60, 10, 8]])
    ax = out["plot"].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.001", "0.01", "0.1", "1"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["4", "64", "1024"]
    assert ax.images[0].get_array().shape == (3, 4)
    assert sum(t.get_text() == "diverged" for t in ax.texts) == 3
    assert list(out["table"]["batch size"]) == [4, 64, 1024]
    assert list(out["table"].columns[1:5]) == ["lr=0.001", "lr=0.01", "lr=0.1", "lr=1"]
    assert out["table"].loc[0, "lr=0.1"] == "diverged"
    assert list(out["table"]["seconds per epoch"]) == [9.0, 2.0, 3.0]
    close(out["plot"])


def test_the_verdicts_follow_the_grid():
    lecture = _report([[5, 2, None, None], [20, 4, 3, None], [90, 60, 10, 8]])["report"]
    assert (
        "The best learning rate grows with the batch size: **holds** — "
        "batch 4: lr 0.01 (2.00%), batch 64: lr 0.1 (3.00%), batch 1024: lr 1 (8.00%)" in lecture
    )
    assert (
        "Small batches need a lower learning rate: **holds** — at batch 4 the learning rate that suits batch 1024 (lr 1) gives diverged"
        in lecture
    )
    assert "Large batches may not learn at all" in lecture and "**holds** — batch 1024 at lr 0.01: 60.00%" in lecture
    assert "fastest here batch 64 (2.00 s per epoch)" in lecture
    flat = _report([[5, 2, 3, 4], [6, 2.5, 3, 4], [9, 3, 4, 5]])["report"]
    assert "The best learning rate grows with the batch size: **contradicted**" in flat
    assert "Small batches need a lower learning rate: **contradicted**" in flat
    assert (
        "Large batches may not learn at all (at the learning rate that suits small ones, with the same images seen): "
        "**contradicted**" in flat
    )


def test_the_report_has_every_claim_of_the_check_once_with_its_verdict():
    errors = [[5, 2, None, None], [20, 4, 3, None], [90, 60, 10, 8]]
    params = _params(BASE | GRID)
    batches, lrs = GRID["batch_sizes"], GRID["learning_rates"]
    error, _, _ = error_grid(batches, lrs, _results(errors))
    claims = check_batch_lr_claims(batches, lrs, error, float(params.not_learning_percent))
    assert [claim.verdict for claim in claims] == [Verdict.HOLDS] * 3
    out = _report(errors)
    assert out["report"].startswith("# Batch size against learning rate: what these runs show\n")
    for claim in claims:
        assert out["report"].count(claim.line()) == 1, claim.line()
    close(out["plot"])

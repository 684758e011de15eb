"""The ``tricks`` pipeline's report: its table, the verdicts of the lecture's claims and its figures.

Built from typed member summaries, as the catalog loads them."""

import math

from practical_dl.pipelines.tricks.nodes import TricksParameters, check_claims, report_sweeps, summarise_sweeps
from practical_dl.project.figures import close
from practical_dl.project.reporting import Verdict, render_report
from practical_dl.project.sweeps import MemberSummary
from tests.conftest import shipped_parameters

TRICKS = TricksParameters.from_dict(shipped_parameters("tricks"), "tricks")


def _member(sweep, member, *, lr=0.01, batch=64, error=2.0, seconds=1.0, diverged=False, accuracies=((0.9, 0.9), (0.95, 0.95))):
    """A member whose epochs end at ``accuracies`` (train, validation); a diverged one has one epoch of NaN loss."""
    history = (
        [{"epoch": 1, "train_loss": math.nan, "seconds": seconds}]
        if diverged
        else [
            {"epoch": e, "train_loss": 1.0 / e, "train_accuracy": train, "val_accuracy": val, "seconds": seconds}
            for e, (train, val) in enumerate(accuracies, start=1)
        ]
    )
    return MemberSummary(
        sweep=sweep,
        member=member,
        value=member,
        batch_size=batch,
        lr=lr,
        train_images=1000,
        history=history,
        test_error_percent=math.nan if diverged else error,
        seconds_per_epoch=seconds,
        diverged=diverged,
        mlflow_run_id=f"run-{sweep}-{member}",
    )


RESULTS = (
    _member("learning_rate", "lr_1e_4", lr=0.0001, error=88.0, accuracies=((0.1, 0.1),)),
    _member("learning_rate", "lr_1e_3", lr=0.001, error=5.0),
    _member("learning_rate", "lr_1e_2", lr=0.01, error=2.0),
    _member("learning_rate", "lr_1", lr=1.0, diverged=True),
    _member("batch_size", "bs_4", batch=4, error=3.0, seconds=9.0),
    _member("batch_size", "bs_64", batch=64, error=2.0, seconds=2.0),
    _member("batch_size", "bs_1024", batch=1024, error=6.0, seconds=3.0),
    _member("dropout", "off", accuracies=((0.9, 0.9), (1.0, 0.95))),
    _member("dropout", "on", accuracies=((0.9, 0.9), (0.97, 0.96))),
    _member("batch_norm", "off", accuracies=((0.9, 0.9), (0.99, 0.98))),
    _member("batch_norm", "on", accuracies=((0.95, 0.95), (0.99, 0.98))),
    _member("augmentation", "off", accuracies=((0.9, 0.9), (0.99, 0.98))),
    _member("augmentation", "on", accuracies=((0.9, 0.9), (0.98, 0.97))),
    _member("standardisation", "off", accuracies=((0.9, 0.9), (0.98, 0.97))),
    _member("standardisation", "on", accuracies=((0.9, 0.9), (0.99, 0.98))),
)


def test_the_summary_has_one_row_per_member_read_from_its_last_epoch():
    table = summarise_sweeps(*RESULTS)
    assert len(table) == len(RESULTS)
    dropout_off = table[(table["sweep"] == "dropout") & (table["member"] == "off")].iloc[0]
    assert (dropout_off["epochs"], dropout_off["final train accuracy"], dropout_off["final validation accuracy"]) == (2, 1.0, 0.95)
    assert dropout_off["train-validation gap"] == 0.05 and dropout_off["mlflow run"] == "run-dropout-off"
    diverged = table[table["member"] == "lr_1"].iloc[0]
    assert diverged["diverged"] and math.isnan(diverged["test error (%)"]) and math.isnan(diverged["final train accuracy"])


def test_the_verdicts_follow_the_runs():
    lines = [claim.line() for claim in check_claims(RESULTS)]
    assert lines == [
        "- Too large a learning rate diverges: **holds** — diverged: lr_1; stuck at chance level without diverging: lr_1e_4; "
        "best learning rate 0.01 (2.00% test error).",
        "- Too small a learning rate trains slowly: **holds** — lr 0.0001 ends at 88.00% test error.",
        "- The largest batch is fastest per epoch: **contradicted** — fastest: batch 64 (2.00 s/epoch); "
        "batch 1024: 3.00 s/epoch; batch 4: 9.00 s/epoch.",
        "- Very large batches reach a higher error (same epochs): **holds** — batch 4: 3.00%, batch 64: 2.00%, batch 1024: 6.00%.",
        "- Dropout narrows the train/validation gap: **holds** — gap without 0.0500, with 0.0100.",
        "- Batch normalisation lowers the validation error sooner (after epoch 1): **holds** — "
        "validation error without 10.00%, with 5.00%.",
        "- Augmentation lowers the final validation error: **contradicted** — validation error without 2.00%, with 3.00%.",
        "- Standardisation lowers the final validation error: **holds** — validation error without 3.00%, with 2.00%.",
    ]


def test_a_sweep_without_its_members_makes_no_claim():
    only_lr = [r for r in RESULTS if r.sweep == "learning_rate" and not r.diverged]
    claims = check_claims(only_lr)
    assert [claim.statement for claim in claims] == ["Too large a learning rate diverges", "Too small a learning rate trains slowly"]
    assert claims[0].verdict is Verdict.CONTRADICTED and claims[0].evidence.startswith("diverged: none;")
    assert check_claims([r for r in RESULTS if r.sweep == "dropout" and r.member == "on"]) == []


def test_the_report_has_every_claim_of_the_check_once_the_sweeps_the_table_and_one_figure_per_sweep():
    out = report_sweeps(TRICKS, *RESULTS)
    try:
        report = render_report(out["report"])
        assert report.startswith("# Tricks of the trade: what these runs show\n")
        assert "SimpLeNet-style runs on 1000 training images each" in report
        for claim in check_claims(RESULTS):
            assert report.count(claim.line()) == 1, claim.line()
        for name, spec in TRICKS.sweeps.items():
            assert f"- **{name}**: {spec.description}" in report
        assert "## All runs" in report and out["summary"].to_markdown(index=False) in report
        sweeps = ["learning_rate", "batch_size", "dropout", "batch_norm", "augmentation", "standardisation"]
        assert set(out) == {"summary", "report", *sweeps}
        assert [line.get_label() for line in out["learning_rate"].axes[0].get_lines() if not line.get_label().startswith("_")] == [
            "lr 0.0001",
            "lr 0.001",
            "lr 0.01",
            "lr 1 (diverged)",
        ]
        assert [t.get_text() for t in out["batch_size"].axes[0].get_xticklabels()] == ["4", "64", "1024"]
        assert len(out["dropout"].axes[0].get_lines()) == 4  # train and validation of off and on
    finally:
        for figure in [value for key, value in out.items() if key in TRICKS.sweeps]:
            close(figure)

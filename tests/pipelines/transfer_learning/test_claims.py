"""The transfer learning report's claims: transfer helps when labels are few, and less once they are
plentiful — each verdict weighed against the seed-to-seed spread; the report's table, metrics and
figure carry the mean ± standard deviation over the seeds."""

import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from practical_dl.pipelines.transfer_learning.claims import accuracy_by_seed, spread_over_seeds, transfer_claims
from practical_dl.pipelines.transfer_learning.nodes import TransferRunSummary, report_transfer
from practical_dl.project.reporting import Verdict, render_report

STRATEGIES = ("feature_extract", "fine_tune", "scratch")


def _by_seed(rows: dict[tuple[int, int], tuple[float, float, float]]) -> pd.DataFrame:
    """Accuracy (%) per (labelled images per class, seed): feature extraction, fine-tuning, from scratch."""
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(STRATEGIES))
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["per_class", "seed"])
    return frame


def _seeds(per_class: int, feature_extract, fine_tune, scratch) -> dict:
    return {(per_class, seed): values for seed, values in zip((3, 4, 5), zip(feature_extract, fine_tune, scratch))}


def test_a_gain_inside_the_seed_to_seed_spread_is_not_shown_and_one_outside_it_holds():
    # feature extraction beats scratch by +4, -2, +5 points on seeds 3, 4, 5: mean +2.33, standard deviation 3.79
    (inside,) = transfer_claims(_by_seed(_seeds(10, (84, 83, 95), (80, 80, 80), (80, 85, 90))))
    assert inside.verdict is Verdict.NOT_SHOWN
    assert inside.margin == pytest.approx(7 / 3) and inside.spread == pytest.approx(pd.Series([4, -2, 5]).std())
    assert inside.margin < inside.spread
    # +11, +10.5, +9: mean +10.17, standard deviation 1.04
    (outside,) = transfer_claims(_by_seed(_seeds(10, (91, 95.5, 99), (80, 80, 80), (80, 85, 90))))
    assert outside.verdict is Verdict.HOLDS and outside.margin == pytest.approx(30.5 / 3)
    assert outside.spread == pytest.approx(pd.Series([11, 10.5, 9]).std())
    assert outside.evidence == (
        "feature_extract 95.17 ± 4.01% against 85.00 ± 5.00% from scratch: a gain of +10.17 ± 1.04 points (n = 3); "
        "spread: the standard deviation of the per-seed gains, each seed's runs on the same labelled images"
    )
    # a loss beyond the spread: -5, -6, -4
    (against,) = transfer_claims(_by_seed(_seeds(10, (75, 79, 86), (70, 70, 70), (80, 85, 90))))
    assert against.verdict is Verdict.CONTRADICTED


def test_transfer_helps_with_few_labels_and_less_with_many_compared_by_mean():
    few, less = transfer_claims(
        _by_seed({**_seeds(10, (91.83, 92.5, 91.0), (91.01, 90.0, 90.5), (81.01, 82.0, 80.5)), (1078, 3): (98.27, 98.31, 98.23)})
    )
    assert few.verdict is Verdict.HOLDS and "with 10 labelled images per class" in few.statement
    assert few.margin == pytest.approx((91.83 + 92.5 + 91.0 - 81.01 - 82.0 - 80.5) / 3)
    assert less.verdict is Verdict.HOLDS and less.evidence == "+0.08 points (n = 1) against +10.61 ± 0.18 points (n = 3)"


def test_one_seed_has_no_spread_so_shows_nothing_and_without_scratch_nothing_is_claimed():
    few, less = transfer_claims(_by_seed({(10, 3): (91.83, 91.01, 81.01), (1078, 3): (98.27, 98.31, 98.23)}))
    assert few.verdict is Verdict.NOT_SHOWN and few.margin == 91.83 - 81.01 and few.spread is None
    assert (
        few.evidence
        == "feature_extract 91.83% against 81.01% from scratch: a gain of +10.82 points (n = 1), one seed: no spread to weigh it against"
    )
    assert less.verdict is Verdict.HOLDS and less.evidence == "+0.08 points (n = 1) against +10.82 points (n = 1)"
    assert transfer_claims(_by_seed({(5, 3): (1.0, 2.0, 3.0)}).drop(columns="scratch")) == []


def _summary(strategy: str, budget, seed: int, accuracy: float) -> TransferRunSummary:
    per_class = 1078 if budget == "all" else budget
    return TransferRunSummary(
        strategy=strategy,
        budget=budget,
        seed=seed,
        labelled_images=5 * per_class,
        per_class=per_class,
        epochs=1,
        target_test_accuracy=accuracy,
        diverged=False,
        mlflow_run_id=None,
        trainable_parameters=10,
        parameters=20,
    )


def test_the_report_table_metrics_and_figure_carry_the_mean_and_standard_deviation_over_seeds():
    accuracies = {"feature_extract": (0.90, 0.92, 0.94), "fine_tune": (0.89, 0.90, 0.91), "scratch": (0.80, 0.82, 0.81)}
    runs = [_summary(s, 10, seed, a) for s, values in accuracies.items() for seed, a in zip((3, 4, 5), values)]
    runs += [_summary(s, "all", 3, 0.98) for s in accuracies]
    out = report_transfer(*runs)
    assert len(out["table"]) == 12 and set(out["table"]["seed"]) == {3, 4, 5}
    summary = out["summary"].set_index(["strategy", "per_class"])
    assert summary.loc[("feature_extract", 10)].to_dict() == {"mean": 92.0, "std": 2.0, "n": 3}
    assert summary.loc[("scratch", 1078), "n"] == 1
    markdown = render_report(out["report"], log=False)
    assert "## Target test accuracy (%): mean ± standard deviation over the seeds (n)" in markdown
    assert "92.00 ± 2.00 (n = 3)" in markdown and "98.00 (n = 1)" in markdown
    few = out["report"].claims[0]
    assert few.verdict is Verdict.HOLDS and few.spread == pytest.approx(pd.Series([10.0, 10.0, 13.0]).std())
    metrics = out["metrics"]
    assert metrics["feature_extract.accuracy_std"] == [{"step": 10, "value": 2.0}]
    assert [m["step"] for m in metrics["scratch.accuracy_mean"]] == [10, 1078]
    assert [m["value"] for m in metrics["scratch.seeds"]] == [3.0, 1.0]
    (ax,) = out["plot"].axes
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 3 and "mean ± standard deviation over 3 seeds" in ax.get_ylabel()


def test_the_spread_is_the_sample_standard_deviation_over_seeds():
    by_seed = _by_seed(_seeds(10, (90, 92, 94), (1, 2, 3), (5, 5, 5)))
    summary = spread_over_seeds(by_seed).set_index(["strategy", "per_class"])
    assert summary.loc[("feature_extract", 10), "std"] == pytest.approx(2.0)  # ddof 1
    assert summary.loc[("scratch", 10), "std"] == 0.0
    table = pd.DataFrame([{"strategy": "scratch", "per_class": 10, "seed": 3, "target_test_accuracy": 0.5}])
    assert accuracy_by_seed(table).loc[(10, 3), "scratch"] == 50.0

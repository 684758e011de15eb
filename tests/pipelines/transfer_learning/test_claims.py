"""The transfer learning report's claims: transfer helps when labels are few, and less once they are plentiful."""

import pandas as pd

from practical_dl.pipelines.transfer_learning.nodes import transfer_claims
from practical_dl.project.reporting import Verdict


def _wide(rows: dict[int, tuple[float, float, float]]) -> pd.DataFrame:
    """Accuracy (%) per labelled images per class: feature extraction, fine-tuning, from scratch."""
    return pd.DataFrame.from_dict(rows, orient="index", columns=["feature_extract", "fine_tune", "scratch"]).rename_axis("per_class")


def test_transfer_helps_with_few_labels_and_less_with_many():
    few, less = transfer_claims(_wide({10: (91.83, 91.01, 81.01), 1078: (98.27, 98.31, 98.23)}))
    assert few.verdict is Verdict.HOLDS and few.margin == 91.83 - 81.01
    assert "with 10 labelled images per class" in few.statement and few.evidence == "91.83% against 81.01% from scratch"
    assert less.verdict is Verdict.HOLDS and less.evidence == "+0.08 points against +10.82"


def test_a_transfer_that_loses_is_contradicted_and_without_scratch_nothing_is_claimed():
    (few,) = transfer_claims(_wide({5: (27.98, 24.69, 30.45)}))
    assert few.verdict is Verdict.CONTRADICTED
    assert transfer_claims(_wide({5: (1.0, 2.0, 3.0)}).drop(columns="scratch")) == []

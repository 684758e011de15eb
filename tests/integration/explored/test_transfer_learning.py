"""The ``transfer_learning`` pipeline end to end on a slice of MNIST (``--env test``), in the session's
``explored_project``."""

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def transfer_project(explored_project):
    return explored_project


def test_report_covers_every_strategy_and_budget(transfer_project):
    table = pd.read_csv(transfer_project / "data" / "08_reporting" / "transfer" / "results.csv")
    assert set(table["strategy"]) == {"fine_tune", "feature_extract", "scratch"}
    assert sorted(set(table["per_class"]))[0] == 5
    assert table["target_test_accuracy"].between(0, 1).all()
    frozen = table[table["strategy"] == "feature_extract"]
    assert (frozen["trainable_parameters"] < frozen["parameters"]).all()
    assert (transfer_project / "data" / "08_reporting" / "transfer_learning.png").is_file()
    summary = pd.read_csv(transfer_project / "data" / "08_reporting" / "transfer" / "summary.csv")
    assert set(summary.loc[summary["per_class"] == 5, "n"]) == {2} and set(summary.loc[summary["per_class"] > 5, "n"]) == {1}


def test_runs_are_nested_and_tagged(transfer_project):
    client = MlflowClient(tracking_uri=f"sqlite:///{transfer_project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("practical_dl").experiment_id], "tags.experiment = 'transfer_learning'")
    assert len(runs) == 3 * 3  # 3 strategies x (budget 5 on seeds 3 and 4, all on seed 3)
    assert {r.data.tags["strategy"] for r in runs} == {"fine_tune", "feature_extract", "scratch"}
    assert sorted(r.data.tags["seed"] for r in runs) == ["3"] * 6 + ["4"] * 3
    assert len({r.data.tags["mlflow.parentRunId"] for r in runs}) == 1
    assert all("target_test_accuracy" in r.data.metrics for r in runs)


def test_pretraining_is_reused_with_only_missing_outputs(transfer_project):
    versions = transfer_project / "data" / "06_models" / "transfer_source.safetensors"
    assert len(list(versions.iterdir())) == 1
    result = transfer_project / "data" / "07_model_output" / "transfer" / "scratch" / "all" / "s3.json"
    result.unlink()  # one run to redo: it must reuse the pre-trained source network
    run(transfer_project, pipeline_names=["transfer_learning"], only_missing_outputs=True)
    assert len(list(versions.iterdir())) == 1
    assert result.is_file()

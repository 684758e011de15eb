"""The ``augmentation`` and ``tricks`` pipelines end to end on a slice of MNIST (``--env test``)."""

import json

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import project_after, run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tricks_project(tmp_path_factory):
    yield from project_after(tmp_path_factory, "tricks", ["data_ingestion", "standardisation"], ["augmentation", "tricks"])


def test_report_and_plots_are_written(tricks_project):
    reporting = tricks_project / "data" / "08_reporting"
    assert (reporting / "augmentation_preview.png").is_file()
    for sweep in ("batch_size", "learning_rate", "dropout", "batch_norm", "augmentation", "standardisation"):
        assert (reporting / "tricks" / f"{sweep}.png").is_file(), sweep
    report = (reporting / "tricks" / "report.md").read_text()
    assert "Too large a learning rate diverges: **confirmed** — diverged: lr_1" in report
    metrics = json.loads((reporting / "rotation_regression" / "metrics.json").read_text())
    assert metrics["val_mae_degrees"] > 0 and metrics["target_std_degrees"] > 10  # the target is in degrees, not standardised units
    assert (reporting / "rotation_regression.png").is_file()


def test_members_are_nested_tagged_runs_and_divergence_is_marked(tricks_project):
    client = MlflowClient(tracking_uri=f"sqlite:///{tricks_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("practical_dl")
    runs = client.search_runs([experiment.experiment_id])
    members = [r for r in runs if "sweep" in r.data.tags]
    parent_ids = {r.data.tags.get("mlflow.parentRunId") for r in members}
    assert len(parent_ids) == 1 and None not in parent_ids  # all children of the one `kedro run`
    tricks_parent = client.get_run(parent_ids.pop())
    children = members
    assert len(children) == 5 + 5 + 2 + 2 + 2 + 2
    assert {r.data.tags["sweep"] for r in children} == {
        "batch_size",
        "learning_rate",
        "dropout",
        "batch_norm",
        "augmentation",
        "standardisation",
    }
    lr_runs = {r.data.tags["member"]: r for r in children if r.data.tags["sweep"] == "learning_rate"}
    assert lr_runs["lr_1"].data.tags["diverged"] == "true" and lr_runs["lr_1"].info.status == "FAILED"
    assert lr_runs["lr_1e_2"].data.tags["diverged"] == "false" and lr_runs["lr_1e_2"].info.status == "FINISHED"
    assert lr_runs["lr_1e_2"].data.params["training.lr"] == "0.01"
    history = client.get_metric_history(lr_runs["lr_1e_2"].info.run_id, "val_accuracy")
    assert [m.step for m in history] == [1]
    assert "rotation_regression.val_mae_degrees" in tricks_parent.data.metrics


def test_invalid_sweep_parameter_fails_before_any_member_runs(tricks_project):
    with pytest.raises(ValueError, match=r"tricks\.sweeps\.dropout\.members\.on\.model\.options: cannot build 'simplenet'"):
        run(
            tricks_project,
            pipeline_names=["tricks"],
            runtime_params={"tricks": {"sweeps": {"dropout": {"members": {"on": {"model": {"options": {"dropuot": 0.5}}}}}}}},
        )
    with pytest.raises(ValueError, match=r"augmentation\.rotation_degrees must be in \[0, 180\]"):
        run(tricks_project, pipeline_names=["augmentation"], runtime_params={"augmentation": {"rotation_degrees": -1}})

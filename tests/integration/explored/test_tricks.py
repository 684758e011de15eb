"""The ``augmentation``, ``tricks``, ``batch_lr``, ``dropout_ensemble`` and ``depth_bn`` pipelines end to end on a slice of MNIST
(``--env test``), in the session's ``explored_project``."""

import json

import pandas as pd
import pytest
from kedro.validation.exceptions import ParameterValidationError
from mlflow.tracking import MlflowClient

from practical_dl.project.context import load_project_parameters, parameter_error
from tests.conftest import ROOT, run

PARAM_KEYS = json.loads((ROOT / "tests" / "integration" / "fixtures" / "mlflow_param_keys.json").read_text())

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tricks_project(explored_project):
    return explored_project


def test_report_and_plots_are_written(tricks_project):
    reporting = tricks_project / "data" / "08_reporting"
    assert (reporting / "augmentation_preview.png").is_file()
    for sweep in ("batch_size", "learning_rate", "dropout", "batch_norm", "augmentation", "standardisation"):
        assert (reporting / "tricks" / f"{sweep}.png").is_file(), sweep
    report = (reporting / "tricks" / "report.md").read_text()
    assert "Too large a learning rate diverges: **holds** — diverged: lr_1" in report
    metrics = json.loads((reporting / "rotation_regression" / "metrics.json").read_text())
    assert metrics["val_mae_degrees"] > 0 and metrics["target_std_degrees"] > 10  # the target is in degrees, not standardised units
    assert (reporting / "rotation_regression.png").is_file()


def test_members_are_nested_tagged_runs_and_divergence_is_marked(tricks_project):
    client = MlflowClient(tracking_uri=f"sqlite:///{tricks_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("practical_dl")
    runs = client.search_runs([experiment.experiment_id])
    members = [r for r in runs if r.data.tags.get("pipeline") == "tricks" and "sweep" in r.data.tags]
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
    with pytest.raises(
        ValueError, match=r"tricks\.sweeps\.dropout\.members\.on\.model: options \['dropuot'\] are not options of 'simplenet'"
    ):
        run(
            tricks_project,
            pipeline_names=["tricks"],
            runtime_params={"tricks": {"sweeps": {"dropout": {"members": {"on": {"model": {"options": {"dropuot": 0.5}}}}}}}},
        )
    # Kedro refuses the run; the project words its error (as `kedro run` prints it, practical_dl.cli)
    with pytest.raises(ParameterValidationError) as failed:
        run(tricks_project, pipeline_names=["augmentation"], runtime_params={"augmentation": {"rotation_degrees": -1}})
    with pytest.raises(ValueError, match=r"invalid parameter augmentation\.rotation_degrees: must be >= 0, got -1"):
        raise parameter_error(load_project_parameters(), ["augmentation"], failed.value)


def test_batch_lr_grid_report_heat_map_and_runs(tricks_project):
    reporting = tricks_project / "data" / "08_reporting" / "batch_lr"
    table = pd.read_csv(reporting / "test_error.csv")
    # conf/test: batch sizes [16, 64] x learning rates [0.01, 1000]
    assert list(table["batch size"]) == [16, 64] and list(table.columns[1:3]) == ["lr=0.01", "lr=1000"]
    assert list(table["lr=1000"]) == ["diverged", "diverged"]
    assert table["lr=0.01"].astype(float).between(0, 100).all()
    assert (reporting / "heat_map.png").is_file()
    assert "# Batch size against learning rate" in (reporting / "report.md").read_text()
    for name in ("bs_16_lr_0p01", "bs_16_lr_1000", "bs_64_lr_0p01", "bs_64_lr_1000"):
        result = json.loads((tricks_project / "data" / "07_model_output" / "batch_lr" / f"{name}.json").read_text())
        assert result["train_images"] == 300 and result["diverged"] == name.endswith("1000")
    client = MlflowClient(tracking_uri=f"sqlite:///{tricks_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("practical_dl")
    grid = {r.data.tags["member"]: r for r in client.search_runs([experiment.experiment_id], "tags.sweep = 'batch_lr'")}
    assert set(grid) == {"bs_16.lr_0p01", "bs_16.lr_1000", "bs_64.lr_0p01", "bs_64.lr_1000"}
    assert {r.data.tags["pipeline"] for r in grid.values()} == {"batch_lr"}
    assert len({r.data.tags["mlflow.parentRunId"] for r in grid.values()}) == 1  # children of the one `kedro run --pipelines batch_lr`
    assert grid["bs_64.lr_1000"].info.status == "FAILED" and grid["bs_64.lr_0p01"].info.status == "FINISHED"
    assert grid["bs_64.lr_0p01"].data.params["training.batch_size"] == "64"
    # typed blocks log the keys untyped ones did, in the member runs and in the run of the pipeline
    assert {key: sorted(r.data.params) for key, r in grid.items()} == {key: PARAM_KEYS["batch_lr_member_run"] for key in grid}
    parent = client.get_run(grid["bs_64.lr_0p01"].data.tags["mlflow.parentRunId"])
    assert sorted(parent.data.params) == PARAM_KEYS["batch_lr_run"]


def test_a_bad_grid_parameter_fails_before_any_member_runs(tricks_project):
    with pytest.raises(ValueError, match=r"batch_lr\.learning_rates: must be increasing"):
        run(tricks_project, pipeline_names=["batch_lr"], runtime_params={"batch_lr": {"learning_rates": [0.1, 0.01]}})


def test_dropout_ensemble_members_probabilities_report_and_runs(tricks_project):
    from safetensors.numpy import load_file

    output = tricks_project / "data" / "07_model_output" / "dropout_ensemble"
    for member in ("plain_1", "plain_2", "dropout_1", "dropout_2"):  # conf/test: 2 plain members, 2 dropout members
        probabilities = load_file(output / f"{member}_probabilities.safetensors")
        assert probabilities["probabilities"].shape == (500, 10)  # the whole test split (conf/test: 500 images)
        assert ("mc_probabilities" in probabilities) == member.startswith("dropout")
        assert json.loads((output / f"{member}.json").read_text())["train_images"] == 300
    reporting = tricks_project / "data" / "08_reporting" / "dropout_ensemble"
    table = pd.read_csv(reporting / "summary.csv")
    assert list(table["networks trained"]) == [1, 2, 1, 1]
    assert table["ECE (%)"].between(0, 100).all()
    assert "# Dropout as an ensemble" in (reporting / "report.md").read_text()
    assert (reporting / "ensembles.png").is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{tricks_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("practical_dl")
    members = client.search_runs([experiment.experiment_id], "tags.sweep = 'dropout_ensemble'")
    assert sorted(r.data.tags["member"] for r in members) == ["dropout_1", "dropout_2", "plain_1", "plain_2"]
    seeds = {r.data.tags["member"]: r.data.params["training.seed"] for r in members}
    assert len(set(seeds.values())) == 4  # independently trained
    parent = client.get_run(members[0].data.tags["mlflow.parentRunId"])
    assert [m.step for m in client.get_metric_history(parent.info.run_id, "dropout_ensemble.ensemble_test_error")] == [1, 2]


def test_depth_bn_runs_gradient_norms_report_and_picture(tricks_project):
    # conf/test: depths [3, 6] x without / with batch norm x learning-rate factor [1]
    output = tricks_project / "data" / "07_model_output" / "depth_bn"
    for depth in (3, 6):
        for norm in ("plain", "bn"):
            result = json.loads((output / f"depth_{depth}_{norm}_lr_x1.json").read_text())
            assert result["depth"] == depth and result["batch_norm"] == (norm == "bn")
            assert [row["epoch"] for row in result["gradient_norms"]] == [0, 1]
            assert all(len(row["norms"]) == depth for row in result["gradient_norms"])  # one norm per convolution
    reporting = tricks_project / "data" / "08_reporting" / "depth_bn"
    table = pd.read_csv(reporting / "summary.csv")
    assert list(table["conv layers"]) == [3, 3, 6, 6] and list(table["batch norm"]) == [False, True, False, True]
    assert "Batch norm lets the deeper networks train" in (reporting / "report.md").read_text()
    assert (reporting / "depth_bn.png").is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{tricks_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("practical_dl")
    runs = client.search_runs([experiment.experiment_id], "tags.sweep = 'depth_bn'")
    assert sorted(r.data.tags["member"] for r in runs) == [
        "depth_3.bn.lr_x1",
        "depth_3.plain.lr_x1",
        "depth_6.bn.lr_x1",
        "depth_6.plain.lr_x1",
    ]
    assert {r.data.params["model.options.depth"] for r in runs} == {"3", "6"}

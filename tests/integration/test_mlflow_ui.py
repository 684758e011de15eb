"""What the MLflow UI shows of the project, against a real (SQLite) MLflow store without Kedro: run
names, the experiment's kind, and the saved view of each model's test error (``practical_dl.project.tracking``;
the default ``kedro run`` itself is checked in explored/test_default_run.py). A last test reads the installed
MLflow UI's bundle for the names the project writes, so that an MLflow upgrade that renames them fails
here rather than in a browser."""

import json
from datetime import datetime
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from practical_dl.project.tracking import comparison_view_url, name_kedro_run, run_name, update_comparison_view

VIEW_TAG = "mlflow.sharedViewState.test_error_per_model"


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory):
    """One SQLite MLflow store for the module (creating one takes seconds)."""
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path_factory.mktemp('mlflowui') / 'mlflow.db'}")
    try:
        yield MlflowClient()
    finally:
        mlflow.set_tracking_uri(before)


@pytest.fixture
def store(sqlite_store, request):
    """An experiment of its own for the test, without tags, as one created before mlflow.yml set them."""
    experiment_id = mlflow.set_experiment(request.node.name).experiment_id
    try:
        yield sqlite_store, experiment_id
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()


def view(client, experiment_id) -> tuple[dict, dict]:
    envelope = json.loads(client.get_experiment(experiment_id).tags[VIEW_TAG])
    return envelope, json.loads(envelope["state"])


def test_a_run_is_named_after_its_pipelines_params_and_start():
    start = int(datetime(2026, 11, 27, 20, 39, 52).timestamp() * 1000)  # local time, as the UI shows it
    assert run_name(["__default__"], None, start) == "default @ 11-27 20:39"
    assert run_name(["data_ingestion", "training"], {}, start) == "data_ingestion+training @ 11-27 20:39"
    named = run_name(["training"], {"simplenet": {"training": {"lr": 0.1, "epochs": 3}}}, start)
    assert named == "training (simplenet.training.lr=0.1, simplenet.training.epochs=3) @ 11-27 20:39"


def test_kedro_mlflows_run_is_renamed_and_an_untagged_experiment_becomes_model_development(store):
    client, experiment_id = store
    assert "mlflow.experimentKind" not in client.get_experiment(experiment_id).tags
    with mlflow.start_run(run_name="__default__") as run:  # kedro-mlflow's name with run.name: null
        assert name_kedro_run(["__default__"], None) == run.info.run_id
    renamed = client.get_run(run.info.run_id)
    assert renamed.info.run_name == run_name(["__default__"], None, renamed.info.start_time)
    assert renamed.data.tags["mlflow.runName"] == renamed.info.run_name
    assert client.get_experiment(experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"


def test_a_name_and_a_kind_set_by_someone_else_are_kept(store):
    client, experiment_id = store
    client.set_experiment_tag(experiment_id, "mlflow.experimentKind", "genai_development")
    with mlflow.start_run(run_name="my comparison") as run:  # mlflow.yml's run.name, or a run started outside Kedro
        name_kedro_run(["__default__"], None)
    assert client.get_run(run.info.run_id).info.run_name == "my comparison"
    assert client.get_experiment(experiment_id).tags["mlflow.experimentKind"] == "genai_development"


def test_without_a_run_nothing_is_named():
    assert mlflow.active_run() is None
    assert name_kedro_run(["__default__"], None) is None


def test_the_view_lists_each_test_error_and_keeps_them_as_runs_add_models(store):
    client, experiment_id = store
    with mlflow.start_run() as first:
        mlflow.log_metrics({"fc256_fc256.test_error_percent": 3.1, "fc64.test_error_percent": 2.5, "fc64.val_loss": 0.1})
    assert update_comparison_view(first.info.run_id) == experiment_id
    envelope, state = view(client, experiment_id)
    # what the UI's "Save as new view" writes and its view menu checks: a name, a number, a JSON text
    assert envelope["name"] == "Test error per model" and isinstance(envelope["createdAt"], int) and isinstance(envelope["state"], str)
    assert state["selectedColumns"] == [
        "attributes.`Duration`",
        "tags.`env`",
        "metrics.`fc64.test_error_percent`",  # numbers compare as numbers: fc64 before fc256
        "metrics.`fc256_fc256.test_error_percent`",
    ]
    assert state["columnOrder"][0] == "duration" and state["orderByKey"] == "attributes.start_time" and state["orderByAsc"] is False

    with mlflow.start_run() as second:  # a later run of another model, with a sweep member's child run
        mlflow.log_metric("simplenet.test_error_percent", 1.2)
        with mlflow.start_run(nested=True):
            mlflow.log_metric("test_error_percent", 1.5)
    update_comparison_view(second.info.run_id)
    later, state = view(client, experiment_id)
    assert [c for c in state["selectedColumns"] if c.startswith("metrics.")] == [
        "metrics.`fc64.test_error_percent`",
        "metrics.`fc256_fc256.test_error_percent`",
        "metrics.`simplenet.test_error_percent`",
        "metrics.`test_error_percent`",
    ]
    assert later["createdAt"] == envelope["createdAt"] and later["updatedAt"] >= envelope["updatedAt"]


def test_the_address_opens_the_runs_table_on_the_view():
    assert (
        comparison_view_url("http://127.0.0.1:5000", "1")
        == "http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning&viewStateShareKey=test_error_per_model"
    )
    assert (
        comparison_view_url("http://127.0.0.1:5000", "1", with_view=False)
        == "http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning"
    )


def test_the_installed_mlflow_ui_reads_what_the_project_writes():
    bundle = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    if not bundle.is_dir():
        pytest.skip(f"this MLflow has no UI bundle at {bundle}")
    text = "\n".join(path.read_text(errors="replace") for path in bundle.glob("*.js"))
    for name in (
        '"viewStateShareKey"',  # the address's parameter
        '"mlflow.sharedViewState."',  # the experiment tag's prefix
        "Invalid saved-view envelope",  # the {name, createdAt, updatedAt, state} form of a saved view
        '"selectedColumns","columnOrder","columnWidths"',  # the UI state a shared view restores
        'e+".`"+t+"`"',  # column names: metrics.`<key>`
        '"mlflow.workflowType"',  # the UI's GenAI / Model training switch, which the address sets
        'MACHINE_LEARNING="machine_learning"',
        '"mlflow.experimentKind"',
    ):
        assert name in text, name

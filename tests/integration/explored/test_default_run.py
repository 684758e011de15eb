"""The default pipeline end to end, through a KedroSession, on a slice of MNIST (``--env test``), in the
session's ``explored_project``."""

import json

import pytest
from kedro.validation.exceptions import ParameterValidationError
from mlflow.tracking import MlflowClient

from practical_dl.core.params import ParameterError
from practical_dl.project.context import load_project_parameters, parameter_error
from tests.conftest import ROOT, run, runs_of

PARAM_KEYS = json.loads((ROOT / "tests" / "integration" / "fixtures" / "mlflow_param_keys.json").read_text())

pytestmark = pytest.mark.integration

MODELS = ["fc64", "fc256_fc256", "simplenet"]


#: the default run's MLflow run, among the other pipelines' runs in ``explored_project``
DEFAULT_RUN = runs_of("__default__")


@pytest.fixture(scope="module")
def finished_project(explored_project):
    return explored_project


def test_every_artefact_is_written(finished_project):
    data = finished_project / "data"
    for name in ("train", "validation", "test"):
        assert (data / "05_model_input" / f"{name}.safetensors").is_file()
    assert (data / "05_model_input" / "standardisation_stats.json").is_file()
    for model in MODELS:
        versions = list((data / "06_models" / f"{model}.safetensors").iterdir())
        assert len(versions) == 1 and (versions[0] / f"{model}.safetensors").is_file()
        assert (data / "07_model_output" / model / "training_history.csv").is_file()
        for report in ("test_metrics.json", "per_class_scores.csv", "confusion_matrix.png", "misclassified.png"):
            assert (data / "08_reporting" / model / report).is_file(), (model, report)
        assert (data / "07_model_output" / model / "test_predictions.csv").is_file()
    for report in ("results.csv", "results.md", "training_curves.png", "learned_kernels.png", "feature_maps.png"):
        assert (data / "08_reporting" / report).is_file(), report
    table = (data / "08_reporting" / "results.md").read_text()
    assert "SimpLeNet" in table and "0.79" in table


def test_mlflow_run_holds_parameters_metric_histories_and_artefacts(finished_project):
    client = MlflowClient(tracking_uri=f"sqlite:///{finished_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("practical_dl")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI opens on the training runs
    runs = client.search_runs([experiment.experiment_id], filter_string=DEFAULT_RUN)
    assert len(runs) == 1
    run_ = runs[0]
    assert run_.info.status == "FINISHED"
    params = run_.data.params
    assert sorted(params) == PARAM_KEYS["default_run"]  # typed blocks log the keys untyped ones did
    assert params["simplenet.training.epochs"] == "2"
    assert params["training_defaults.lr"] == "0.05"
    assert params["data_ingestion.seed"] == "2022"
    history = client.get_metric_history(run_.info.run_id, "simplenet.val_accuracy")
    assert [m.step for m in history] == [1, 2]
    assert "simplenet.test_error_percent" in run_.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run_.info.run_id, "plots")}
    assert {"plots/training_curves.png", "plots/learned_kernels.png", "plots/simplenet"} <= artifacts
    models = {a.path for a in client.list_artifacts(run_.info.run_id, "models/simplenet")}
    assert models == {"models/simplenet/simplenet.safetensors"}


def test_every_classifier_is_registered_with_its_test_error(finished_project):
    import json

    client = MlflowClient(tracking_uri=f"sqlite:///{finished_project / 'mlflow.db'}")
    (default_run,) = client.search_runs([client.get_experiment_by_name("practical_dl").experiment_id], filter_string=DEFAULT_RUN)
    run_id = default_run.info.run_id
    for model in MODELS:
        record = json.loads((finished_project / "data" / "08_reporting" / model / "registered_model.json").read_text())
        assert record["registered"] and record["registered_model"] == f"practical_dl_{model}"
        version = client.get_model_version(f"practical_dl_{model}", record["version"])
        metrics = json.loads((finished_project / "data" / "08_reporting" / model / "test_metrics.json").read_text())
        assert version.tags["test_error_percent"] == f"{metrics['test_error_percent']:.2f}"
        assert version.tags["kedro.env"] == "test" and version.tags["kedro.session_id"]
        assert version.run_id == run_id


def test_bad_parameter_fails_before_anything_is_overwritten(finished_project):
    client = MlflowClient(tracking_uri=f"sqlite:///{finished_project / 'mlflow.db'}")
    runs_before = len(client.search_runs([client.get_experiment_by_name("practical_dl").experiment_id]))
    outputs = sorted(p for p in (finished_project / "data").rglob("*") if p.is_file() and "01_raw" not in p.parts)
    before = {p: p.stat().st_mtime_ns for p in outputs}
    # Kedro refuses the run; the project words its error (as `kedro run` prints it, practical_dl.cli)
    with pytest.raises(ParameterValidationError) as failed:
        run(finished_project, runtime_params={"simplenet": {"training": {"lr": -0.1}}})
    with pytest.raises(ParameterError, match=r"invalid parameter simplenet\.training\.lr: must be > 0, got -0\.1"):
        raise parameter_error(load_project_parameters(), None, failed.value)
    with pytest.raises(ParameterValidationError) as failed:
        run(finished_project, runtime_params={"fc64": {"model": {"name": "fc65"}}})
    with pytest.raises(ParameterError, match=r"invalid parameter fc64\.model\.name: must be one of .*simplenet.*, got 'fc65'"):
        raise parameter_error(load_project_parameters(), None, failed.value)
    after = sorted(p for p in (finished_project / "data").rglob("*") if p.is_file() and "01_raw" not in p.parts)
    assert after == outputs
    # the checks ran before kedro-mlflow opened a run: no run was left behind
    assert len(client.search_runs([client.get_experiment_by_name("practical_dl").experiment_id])) == runs_before
    assert {p: p.stat().st_mtime_ns for p in after} == before


def test_mlflow_ui_shows_the_named_run_and_each_models_test_error(finished_project):
    """What a person meets in the MLflow UI: the experiment tagged as model development, the run
    named after what ran and when, and the saved view that lists every model's test error."""
    import json
    from datetime import datetime

    client = MlflowClient(tracking_uri=f"sqlite:///{finished_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("practical_dl")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id], filter_string=DEFAULT_RUN)
    assert len(runs) == 1
    run_ = runs[0]
    assert run_.info.run_name == f"default @ {datetime.fromtimestamp(run_.info.start_time / 1000):%m-%d %H:%M}"

    envelope = json.loads(experiment.tags["mlflow.sharedViewState.test_error_per_model"])
    assert envelope["name"] == "Test error per model" and isinstance(envelope["createdAt"], int)
    columns = json.loads(envelope["state"])["selectedColumns"]
    test_errors = {key for key in run_.data.metrics if key.endswith(".test_error_percent")}
    assert {f"{model}.test_error_percent" for model in MODELS} <= test_errors
    assert {f"metrics.`{key}`" for key in test_errors} <= set(columns)
    # the view holds the test error of every run in the experiment: here the other pipelines' runs too
    every = {key for r in client.search_runs([experiment.experiment_id]) for key in r.data.metrics if key.endswith("test_error_percent")}
    assert {c for c in columns if c.startswith("metrics.")} == {f"metrics.`{key}`" for key in every}

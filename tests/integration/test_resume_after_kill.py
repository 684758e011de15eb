"""A real ``kedro run`` killed (SIGKILL) or interrupted (Ctrl-C) in the middle of training, then run
again: it goes on from the last checkpoint and ends with classifiers identical, tensor for tensor,
to those of an uninterrupted run."""

import signal
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from safetensors.torch import load_file

from tests.conftest import KEDRO_TEST_RUN, completed_kedro_run, interrupt_kedro_run, make_project_copy

pytestmark = pytest.mark.integration

PARAMS = "simplenet.training.epochs=4"  # long enough to be killed in the middle
KEDRO_RUN = [sys.executable, *KEDRO_TEST_RUN, "--pipelines", "data_ingestion,standardisation,training", "--params", PARAMS]


def _classifiers(project: Path) -> dict[str, dict]:
    """The newest saved classifier of every model: {model: tensors}."""
    found = {}
    for folder in sorted((project / "data" / "06_models").glob("*.safetensors")):
        model = folder.name.removesuffix(".safetensors")
        newest = sorted(folder.glob(f"*/{model}.safetensors"))[-1]
        found[model] = load_file(newest)
    return found


def _runs(project: Path):
    """The MLflow client of a project and its runs, oldest first."""
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    runs = sorted(client.search_runs([client.get_experiment_by_name("practical_dl").experiment_id]), key=lambda r: r.info.start_time)
    return client, *runs


def _histories(client, run) -> dict[str, list[tuple[int, float]]]:
    """Every per-epoch metric history of a run (wall-clock times left out), sorted by step."""
    keys = [k for k in run.data.metrics if k.split(".")[-1] in {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"}]
    assert {"simplenet.val_accuracy", "fc64.train_loss"} <= set(keys)
    return {k: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, k)) for k in keys}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The same run, never interrupted."""
    project = make_project_copy(tmp_path_factory.mktemp("reference"))
    completed_kedro_run(KEDRO_RUN, project)
    return project


def test_two_identical_runs_give_identical_classifiers_and_metric_histories(reference, tmp_path):
    again = make_project_copy(tmp_path)
    completed_kedro_run(KEDRO_RUN, again)
    expected, actual = _classifiers(reference), _classifiers(again)
    assert set(actual) == set(expected)
    for model, tensors in expected.items():
        for name, tensor in tensors.items():
            assert actual[model][name].equal(tensor), (model, name)
    histories = _histories(*_runs(again))
    assert histories == _histories(*_runs(reference))
    assert [step for step, _ in histories["simplenet.val_accuracy"]] == [1, 2, 3, 4]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_an_interrupted_run_resumes_and_ends_bit_identical_to_an_uninterrupted_one(reference, tmp_path, sig):
    killed = make_project_copy(tmp_path)
    checkpoint = killed / "data" / "06_models" / "checkpoints" / "simplenet.safetensors"
    log = tmp_path / "killed.log"
    # SimpLeNet's first epoch is saved
    returncode = interrupt_kedro_run(KEDRO_RUN, killed, log, lambda _: checkpoint.exists(), sig)
    assert returncode != 0
    assert not (killed / "data" / "06_models" / "simplenet.safetensors").exists()  # its training never finished
    if sig == signal.SIGINT:  # Ctrl-C: the first MLflow run ends KILLED (SIGKILL leaves no chance to say anything)
        client = MlflowClient(tracking_uri=f"sqlite:///{killed / 'mlflow.db'}")
        (first,) = client.search_runs([client.get_experiment_by_name("practical_dl").experiment_id])
        assert first.info.status == "KILLED"

    again = completed_kedro_run(KEDRO_RUN, killed)
    assert "resuming from checkpoint" in again.stdout and "SimpLeNet: resuming after epoch" in again.stdout

    # the second MLflow run names the run it went on from, and holds the whole metric histories,
    # step for step and value for value those of the uninterrupted run
    client, first, second = _runs(killed)
    assert second.data.tags["resumed_from"] == first.info.run_id
    assert second.data.tags["resumed_from.simplenet"].startswith(f"{first.info.run_id} after epoch ")
    assert _histories(client, second) == _histories(*_runs(reference))

    expected, actual = _classifiers(reference), _classifiers(killed)
    assert set(actual) == set(expected) == {"fc64", "fc256_fc256", "simplenet", "simplenet_plus"}
    for model, tensors in expected.items():
        assert tensors.keys() == actual[model].keys()
        for name, tensor in tensors.items():
            assert actual[model][name].dtype == tensor.dtype and actual[model][name].equal(tensor), (model, name)

"""A real ``kedro run`` interrupted by Ctrl-C (SIGINT) or SIGTERM in the middle of training: its
MLflow run ends as KILLED, tagged with the signal, never FINISHED nor RUNNING for ever."""

import signal
import sys

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import KEDRO_TEST_RUN, interrupt_kedro_run, make_project_copy

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_training_ends_its_mlflow_run_as_killed(tmp_path, sig):
    project = make_project_copy(tmp_path)
    log = tmp_path / "run.log"
    command = [sys.executable, *KEDRO_TEST_RUN, "--params", "simplenet.training.epochs=50"]
    # well inside training
    returncode = interrupt_kedro_run(command, project, log, lambda text: "Training SimpLeNet" in text, sig, wait_s=120, settle_s=1.0)
    assert returncode != 0
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("practical_dl").experiment_id])
    assert len(runs) == 1
    assert runs[0].info.status == "KILLED", log.read_text()[-2000:]
    assert runs[0].data.tags["interrupted_by"] == sig.name
    # what was logged before the interrupt is kept
    assert "fc64.test_error_percent" in runs[0].data.metrics or client.get_metric_history(runs[0].info.run_id, "fc64.val_accuracy")

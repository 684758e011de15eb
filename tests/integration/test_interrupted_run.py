"""A real ``kedro run`` interrupted by Ctrl-C (SIGINT) or SIGTERM in the middle of training: its
MLflow run ends as KILLED, tagged with the signal, never FINISHED nor RUNNING for ever."""

import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import make_project_copy

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_training_ends_its_mlflow_run_as_killed(tmp_path, sig):
    project = make_project_copy(tmp_path)
    log = tmp_path / "run.log"
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "MPLBACKEND": "Agg", "COLUMNS": "200"}
    env.pop("KEDRO_ENV", None)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", "--env", "test", "--params", "simplenet.training.epochs=50"],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while "Training SimpLeNet" not in log.read_text():  # well inside training
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "training did not start within 120 s"
                time.sleep(0.2)
            time.sleep(1.0)
            process.send_signal(sig)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode != 0
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("practical_dl").experiment_id])
    assert len(runs) == 1
    assert runs[0].info.status == "KILLED", log.read_text()[-2000:]
    assert runs[0].data.tags["interrupted_by"] == sig.name
    # what was logged before the interrupt is kept
    assert "fc64.test_error_percent" in runs[0].data.metrics or client.get_metric_history(runs[0].info.run_id, "fc64.val_accuracy")

"""A real ``kedro run`` killed (SIGKILL) or interrupted (Ctrl-C) in the middle of training, then run
again: it goes on from the last checkpoint and ends with classifiers identical, tensor for tensor,
to those of an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from safetensors.torch import load_file

from tests.conftest import make_project_copy

pytestmark = pytest.mark.integration

PARAMS = "simplenet.training.epochs=4"  # long enough to be killed in the middle
KEDRO_RUN = [sys.executable, "-m", "kedro", "run", "--env", "test", "--pipelines", "data_ingestion,standardisation,training", "--params", PARAMS]


def _env() -> dict[str, str]:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "MPLBACKEND": "Agg", "COLUMNS": "200"}
    env.pop("KEDRO_ENV", None)
    return env


def _classifiers(project: Path) -> dict[str, dict]:
    """The newest saved classifier of every model: {model: tensors}."""
    found = {}
    for folder in sorted((project / "data" / "06_models").glob("*.safetensors")):
        model = folder.name.removesuffix(".safetensors")
        newest = sorted(folder.glob(f"*/{model}.safetensors"))[-1]
        found[model] = load_file(newest)
    return found


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The same run, never interrupted."""
    project = make_project_copy(tmp_path_factory.mktemp("reference"))
    done = subprocess.run(KEDRO_RUN, cwd=project, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    return project


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_an_interrupted_run_resumes_and_ends_bit_identical_to_an_uninterrupted_one(reference, tmp_path, sig):
    killed = make_project_copy(tmp_path)
    checkpoint = killed / "data" / "06_models" / "checkpoints" / "simplenet.safetensors"
    log = tmp_path / "killed.log"
    with log.open("w") as out:
        process = subprocess.Popen(KEDRO_RUN, cwd=killed, env=_env(), stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 180
            while not checkpoint.exists():  # SimpLeNet's first epoch is saved
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "no SimpLeNet checkpoint within 180 s"
                time.sleep(0.05)
            process.send_signal(sig)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode != 0
    assert not (killed / "data" / "06_models" / "simplenet.safetensors").exists()  # its training never finished
    if sig == signal.SIGINT:  # Ctrl-C: the first MLflow run ends KILLED (SIGKILL leaves no chance to say anything)
        client = MlflowClient(tracking_uri=f"sqlite:///{killed / 'mlflow.db'}")
        (first,) = client.search_runs([client.get_experiment_by_name("practical_dl").experiment_id])
        assert first.info.status == "KILLED"

    again = subprocess.run(KEDRO_RUN, cwd=killed, env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "resuming from checkpoint" in again.stdout and "SimpLeNet: resuming after epoch" in again.stdout

    expected, actual = _classifiers(reference), _classifiers(killed)
    assert set(actual) == set(expected) == {"fc64", "fc256_fc256", "simplenet", "simplenet_plus"}
    for model, tensors in expected.items():
        assert tensors.keys() == actual[model].keys()
        for name, tensor in tensors.items():
            assert actual[model][name].dtype == tensor.dtype and actual[model][name].equal(tensor), (model, name)

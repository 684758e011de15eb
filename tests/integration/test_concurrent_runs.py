"""Two ``kedro run`` commands started at the same moment on one project (no ``mlflow.db`` yet):
both finish, and the SQLite store holds both runs, complete."""

import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import KEDRO_TEST_RUN, kedro_env, make_project_copy

pytestmark = pytest.mark.integration


def test_two_runs_started_together_both_complete_in_one_store(tmp_path):
    project = make_project_copy(tmp_path)
    env = kedro_env()
    # the splits both runs read, made in another process (this one keeps no connection to the store)
    kedro_run = [sys.executable, *KEDRO_TEST_RUN, "--pipelines"]
    subprocess.run([*kedro_run, "data_ingestion"], cwd=project, env=env, check=True, capture_output=True, timeout=180)
    (project / "mlflow.db").unlink()  # both runs now find no store and set it up at once
    commands = {"standardisation": [*kedro_run, "standardisation"], "augmentation": [*kedro_run, "augmentation"]}
    processes = {
        name: subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for name, command in commands.items()
    }
    outputs = {name: p.communicate(timeout=180)[0] for name, p in processes.items()}
    for name, process in processes.items():
        assert process.returncode == 0, f"{name}:\n{outputs[name][-3000:]}"
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("practical_dl").experiment_id])
    assert len(runs) == 2
    assert {r.info.status for r in runs} == {"FINISHED"}
    artifacts = {a.path for r in runs for a in client.list_artifacts(r.info.run_id, "plots")}
    artifacts |= {a.path for r in runs for a in client.list_artifacts(r.info.run_id, "standardisation")}
    assert {"plots/augmentation_preview.png", "standardisation/standardisation_stats.json"} <= artifacts
    assert {r.info.run_name.split(" @ ")[0] for r in runs} == set(commands)  # "<pipelines> @ <start>"
    assert any("augmentation.seed" in r.data.params for r in runs)  # parameters logged too

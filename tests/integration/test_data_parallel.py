"""Data-parallel training through the pipelines: ``torchrun`` starts two gloo processes on this
machine (one "node", then two "nodes" rendezvousing on 127.0.0.1), each runs the same ``kedro run``
of SimpLeNet on the test slice; compared with one plain process at the same global batch and seed."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import KEDRO_TEST_RUN, free_port, kedro_env, make_project_copy

pytestmark = pytest.mark.integration

KEDRO_RUN = [
    *KEDRO_TEST_RUN,
    "--pipelines",
    "data_ingestion,standardisation,training,evaluation",
    "--params",
    "trained_models=[simplenet]",  # SimpLeNet, 2 epochs of batch 64 on 1,100 training images
]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
EPOCHS = 2


def _env() -> dict[str, str]:
    """One thread per process, as torchrun gives each of its workers: the plain process is compared
    at the same thread count whether the suite runs serially or on pytest-xdist workers."""
    return {**kedro_env(), "OMP_NUM_THREADS": "1"}


def _run(command: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _outcome(project: Path) -> dict:
    """What a run left: its test metrics, its saved classifier versions, its checkpoint files and
    its MLflow runs with their metric keys."""
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("practical_dl")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    return {
        "metrics": json.loads((project / "data/08_reporting/simplenet/test_metrics.json").read_text()),
        "saved": sorted(p.relative_to(project) for p in (project / "data/06_models").rglob("*.safetensors") if p.is_file()),
        "runs": runs,
        "metric_keys": set(runs[0].data.metrics) if runs else set(),
    }


def _counted_epochs(log: str, processes: int) -> list[int]:
    """The epochs for which the engine counted every training sample trained on exactly once."""
    pattern = rf"SimpLeNet epoch (\d+): {processes} processes shared the (\d+) training samples, each trained on once"
    return [int(epoch) for epoch, n in re.findall(pattern, log) if int(n) == 1100]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> dict:
    project = make_project_copy(tmp_path_factory.mktemp("one_process"))
    done = _run([sys.executable, *KEDRO_RUN], project)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return _outcome(project)


def _check_against_one_process(outcome: dict, one_process: dict) -> None:
    accuracy, reference = outcome["metrics"]["test_accuracy"], one_process["metrics"]["test_accuracy"]
    assert abs(accuracy - reference) <= 0.005, (accuracy, reference)
    assert outcome["metrics"]["epochs_trained"] == EPOCHS
    assert len(outcome["runs"]) == 1, "one MLflow run per kedro run, however many processes"
    assert outcome["metric_keys"] == one_process["metric_keys"]
    # saved once: one version of the classifier, one checkpoint
    assert [p.parent.parent.name for p in outcome["saved"] if p.parts[2] != "checkpoints"] == ["simplenet.safetensors"]
    assert [p.name for p in outcome["saved"] if p.parts[2] == "checkpoints"] == ["simplenet.safetensors"]


def test_two_gloo_processes_train_like_one(tmp_path, one_process):
    project = make_project_copy(tmp_path)
    done = _run([*TORCHRUN, "--standalone", "--nproc-per-node", "2", *KEDRO_RUN], project)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert "process 0 of 2 joined the gloo process group" in log
    assert _counted_epochs(log, 2) == list(range(1, EPOCHS + 1))
    _check_against_one_process(_outcome(project), one_process)


def test_two_nodes_rendezvous_on_loopback(tmp_path, one_process):
    """Two torchrun "nodes" (node ranks 0 and 1, one process each), each in a project folder of its
    own as on two machines: node 0 writes everything, node 1 nothing."""
    nodes = []
    for rank in (0, 1):
        (tmp_path / f"node{rank}").mkdir()
        nodes.append(make_project_copy(tmp_path / f"node{rank}"))
    before = sorted(p.relative_to(nodes[1]) for p in nodes[1].rglob("*"))
    port = free_port()
    launch = [*TORCHRUN, "--nnodes", "2", "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", str(port)]
    workers = [
        subprocess.Popen(
            [*launch, "--node-rank", str(rank), *KEDRO_RUN],
            cwd=nodes[rank],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (1, 0)
    ]
    try:
        logs = [worker.communicate(timeout=300)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert [worker.returncode for worker in workers] == [0, 0], logs[1][-4000:] + logs[0][-4000:]
    node1_log, node0_log = logs
    assert _counted_epochs(node0_log, 2) == list(range(1, EPOCHS + 1))
    _check_against_one_process(_outcome(nodes[0]), one_process)
    assert sorted(p.relative_to(nodes[1]) for p in nodes[1].rglob("*")) == before, "node 1 wrote files"
    assert "Completed" not in node1_log  # ranks other than 0 log warnings only

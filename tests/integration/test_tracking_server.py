"""A shared tracking server (``practical_dl.tools.tracking_server``): a real PostgreSQL and a real
``mlflow server`` on free loopback ports, the default pipeline run against it (``--env test``) from
a project copy, and the run, its metric histories, an artefact and the registered models read back
through the server's REST API, as another clone or the server's UI would see them.

The copy's ``conf/test/mlflow.yml`` is the shipped ``conf/remote/mlflow.yml``: the test parameters
with the remote tracking configuration, pointed at this server by ``MLFLOW_TRACKING_URI``.
Skipped, saying so, where PostgreSQL is not installed (``.ci/run`` installs Debian's postgresql).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from practical_dl.tools import tracking_server
from tests.conftest import KEDRO_TEST_RUN, ROOT, kedro_env, make_project_copy

pytestmark = pytest.mark.integration

try:
    tracking_server.find_postgres_bin()
    tracking_server.check_driver()
    MISSING = ""
except tracking_server.TrackingServerError as exc:
    MISSING = str(exc)


@pytest.fixture(scope="module")
def server():
    if MISSING:
        pytest.skip(MISSING)
    # not pytest's tmp_path: run by root, PostgreSQL runs as the user postgres, who cannot enter
    # root's private /tmp/pytest-of-root
    folder = Path(tempfile.mkdtemp(prefix="tracking-server-"))
    folder.chmod(0o755)
    try:
        with tracking_server.start(folder / "server", port=0, workers=1) as running:
            yield running
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def kedro_run_on(server, project: Path, *args: str) -> None:
    """``kedro run --env test`` in ``project``, tracked on ``server``."""
    shutil.copy(ROOT / "conf" / "remote" / "mlflow.yml", project / "conf" / "test" / "mlflow.yml")
    env = {**kedro_env(), "MLFLOW_TRACKING_URI": server.uri}
    done = subprocess.run([sys.executable, *KEDRO_TEST_RUN, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


#: a smaller slice than conf/test's, to keep the test short: the run goes through every stage all the same
SMALL = "data_ingestion.train_limit=300,data_ingestion.test_limit=100"


@pytest.fixture(scope="module")
def clones(server, tmp_path_factory):
    """Two clones: the default pipeline run in the first, data_ingestion in the second."""
    first = make_project_copy(tmp_path_factory.mktemp("clone_a"))
    second = make_project_copy(tmp_path_factory.mktemp("clone_b"))
    kedro_run_on(server, first, "--params", SMALL)
    kedro_run_on(server, second, "--pipelines", "data_ingestion", "--params", SMALL)
    return first, second


def api(server, path: str, params: dict | None = None, body: dict | None = None) -> dict:
    """A call of the server's REST API (GET with ``params``, POST with ``body``)."""
    url = f"{server.uri}/api/2.0/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def fetch(server, path: str) -> bytes:
    with urllib.request.urlopen(f"{server.uri}/{path}", timeout=30) as response:
        return response.read()


def test_runs_metric_histories_artefacts_and_models_live_on_the_server(server, clones):
    first, second = clones
    experiment = api(server, "mlflow/experiments/get-by-name", {"experiment_name": "practical_dl"})["experiment"]
    assert experiment["artifact_location"].startswith("mlflow-artifacts:/")  # the server's store, not a clone's folder
    assert {"key": "mlflow.experimentKind", "value": "custom_model_development"} in experiment["tags"]

    # both clones' runs, in one experiment
    runs = api(
        server, "mlflow/runs/search", body={"experiment_ids": [experiment["experiment_id"]], "order_by": ["attributes.start_time ASC"]}
    )["runs"]
    assert len(runs) == 2
    assert [r["info"]["status"] for r in runs] == ["FINISHED", "FINISHED"]
    assert [r["info"]["run_name"].split(" ")[0] for r in runs] == ["default", "data_ingestion"]
    run = runs[0]
    run_id = run["info"]["run_id"]
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["simplenet.training.epochs"] == "2"
    assert params["training_defaults.lr"] == "0.05"
    assert params["data_ingestion.seed"] == "2022"
    assert params["data_ingestion.train_limit"] == "300"
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert 0 < metrics["simplenet.test_error_percent"] < 100

    # a metric history: one point per epoch
    history = api(server, "mlflow/metrics/get-history", {"run_id": run_id, "metric_key": "simplenet.val_accuracy"})["metrics"]
    assert [m["step"] for m in history] == [1, 2]

    # an artefact, uploaded by the clone and served back by the server (and stored by it)
    listed = api(server, "mlflow/artifacts/list", {"run_id": run_id, "path": "reports"})["files"]
    assert {"reports/results.csv", "reports/results.md"} <= {f["path"] for f in listed}
    results = (first / "data" / "08_reporting" / "results.csv").read_bytes()
    assert fetch(server, f"get-artifact?run_uuid={run_id}&path=reports/results.csv") == results
    proxied = f"api/2.0/mlflow-artifacts/artifacts/{experiment['experiment_id']}/{run_id}/artifacts/reports/results.csv"
    assert fetch(server, proxied) == results
    assert list(server.artifacts.rglob(f"{run_id}/artifacts/reports/results.csv"))

    # the evaluation pipeline's registered models, each version made by that run
    registered = api(server, "mlflow/registered-models/search", {"max_results": 100})["registered_models"]
    names = {m["name"] for m in registered}
    assert {"practical_dl_fc64", "practical_dl_fc256_fc256", "practical_dl_simplenet"} <= names
    versions = api(server, "mlflow/model-versions/search", {"filter": "name='practical_dl_simplenet'"})["model_versions"]
    assert [v["run_id"] for v in versions] == [run_id]

    # nothing tracked in the clones themselves
    for clone in (first, second):
        assert not (clone / "mlflow.db").exists()
        assert not (clone / "mlflow.db.lock").exists()  # the SQLite store's lock (practical_dl.project.hooks) stays out of the way
        assert not (clone / "mlruns").exists()
        assert not (clone / "mlartifacts").exists()

"""kedro-viz's previews of the reporting tables and plots (its side panel), over its REST API.

A real ``kedro viz run --env test`` server on a loopback port, in the session's project copy in
which the default pipeline (and the others the notebooks read) has run. The previews come from the catalog's ``metadata: {kedro-viz:
{preview_args: ...}}`` and kedro-datasets' ``preview()`` of the CSV, JSON and matplotlib datasets
that kedro-mlflow's ``MlflowArtifactDataset`` wraps (its dataset subclasses inherit them).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, free_port, kedro_env

pytestmark = pytest.mark.integration

KEDRO = Path(sys.executable).with_name("kedro")
START_S = 240  # kedro viz loads the whole project before it answers: ~30 s on two busy cores
MODELS = ["FC64", "FC256-FC256", "SimpLeNet", "SimpLeNet+"]


@pytest.fixture(scope="module")
def finished_project(explored_project):
    return explored_project


def viz_port() -> int:
    """A free loopback port at most 49151: kedro viz refuses higher ones."""
    for _ in range(200):
        if (port := free_port()) <= 49151:
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # ephemeral ports all high: try one below
        sock.bind(("127.0.0.1", 41000 + os.getpid() % 8000))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def viz(finished_project, tmp_path_factory):
    """``kedro viz run`` on the finished project; yields the base URL of its API."""
    log = tmp_path_factory.mktemp("viz_log") / "kedro_viz.log"
    command = [str(KEDRO), "viz", "run", "--env", "test", "--no-browser", "--host", "127.0.0.1", "--port", str(viz_port())]
    env = {**kedro_env(), "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        # its own process group: the CLI serves from a spawned child process, which is stopped with it
        process = subprocess.Popen(command, cwd=finished_project, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_S
        while not (found := re.search(r"running at\s+(http://127\.0\.0\.1:\d+/)", log.read_text())):
            assert process.poll() is None, f"kedro viz stopped (exit code {process.returncode}):\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"kedro viz did not start within {START_S} s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield found.group(1) + "api/"
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=15)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def node_metadata(api: str, name: str) -> dict:
    """The side panel's data for the dataset ``name`` of the default pipeline."""
    ids = {node["name"]: node["id"] for node in get(api + "main")["nodes"] if node["type"] == "data"}
    assert name in ids, sorted(ids)
    return get(api + f"nodes/{ids[name]}")


def preview_args(name: str) -> dict:
    catalog = yaml.safe_load((ROOT / "conf" / "base" / "catalog.yml").read_text())
    return catalog[name]["metadata"]["kedro-viz"]["preview_args"]


def test_results_table_preview_holds_every_model(viz, finished_project):
    metadata = node_metadata(viz, "results_table")
    results = pd.read_csv(finished_project / "data" / "08_reporting" / "results.csv")
    assert metadata["preview_type"] == "TablePreview"
    preview = metadata["preview"]
    assert preview["columns"] == list(results.columns)
    assert [row[0] for row in preview["data"]] == results["model"].tolist() == MODELS
    assert len(preview["data"]) <= preview_args("results_table")["nrows"]


def test_per_class_scores_preview_has_the_catalogs_rows(viz, finished_project):
    nrows = preview_args("{model}.per_class_scores")["nrows"]
    metadata = node_metadata(viz, "simplenet.per_class_scores")
    scores = pd.read_csv(finished_project / "data" / "08_reporting" / "simplenet" / "per_class_scores.csv")
    assert metadata["preview_type"] == "TablePreview"
    assert metadata["preview"]["columns"] == list(scores.columns)
    assert len(metadata["preview"]["data"]) == nrows == 10  # every class, not kedro-datasets' default 5
    assert [row[0] for row in metadata["preview"]["data"]] == list(range(10))


def test_plot_preview_is_a_png(viz):
    metadata = node_metadata(viz, "training_curves_plot")
    assert metadata["preview_type"] == "ImagePreview"
    assert base64.b64decode(metadata["preview"]).startswith(b"\x89PNG\r\n\x1a\n")


def test_json_report_previews_and_the_models_do_not(viz):
    metrics = node_metadata(viz, "simplenet.test_metrics")
    assert metrics["preview_type"] == "JSONPreview"
    assert json.loads(metrics["preview"])["label"] == "SimpLeNet"
    classifier = node_metadata(viz, "simplenet.classifier")  # no preview() to call: nothing is loaded
    assert "preview" not in classifier and "preview_type" not in classifier

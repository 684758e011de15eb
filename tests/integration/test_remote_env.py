"""``--env remote`` with a tracking server that does not answer fails at once and names it."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port, kedro_env
from tests.integration.test_cli_messages import STARTUP

pytestmark = pytest.mark.integration


def test_remote_env_without_a_server_fails_at_once_naming_it(project):
    uri = f"http://127.0.0.1:{free_port()}"
    kedro = str(Path(sys.executable).with_name("kedro"))
    started = time.monotonic()
    result = subprocess.run(
        [kedro, "run", "--env", "remote", "--pipelines", "data_ingestion"],
        cwd=project,
        env={**kedro_env(), "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 1
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip() and not STARTUP.search(line)]
    assert "Traceback" not in result.stderr and len(lines) <= 10, "\n".join(lines)  # a few lines, no traceback
    output = " ".join((result.stdout + result.stderr).split())
    assert output.count("does not answer") == 1  # printed once
    assert f"the MLflow tracking server {uri}" in output and "does not answer" in output, output[-3000:]
    assert time.monotonic() - started < 120  # not MLflow's minutes of retries
    assert not any((project / "data" / "05_model_input").iterdir())  # nothing ran

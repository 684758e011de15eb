"""A user's mistake ends ``kedro run`` with exit status 1 and a few lines, printed once, no traceback
(an unreachable tracking server: ``test_remote_env``)."""

import re
import subprocess
import sys

import pytest

from tests.conftest import kedro_env

pytestmark = pytest.mark.integration

#: Kedro's start-up lines (which logging configuration it uses), before anything of the run's own
STARTUP = re.compile(r"^\s*(\[\d\d/\d\d/\d\d \d\d:\d\d:\d\d\]\s+)?INFO\s+Using\b|^\s{20,}\S")


def kedro_run(project, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """``kedro run ARGS`` in ``project``: the exit status and the lines it printed after Kedro's start-up lines."""
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "run", *args],
        cwd=project,
        env={**kedro_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip() and not STARTUP.search(line)]
    return result.returncode, lines


def assert_short(lines: list[str], message: str) -> None:
    text = "\n".join(lines)
    assert "Traceback" not in text and "╭" not in text, text
    assert len(lines) <= 10, text
    assert text.count(message) == 1, text


def nothing_written(project) -> bool:
    """No output in data/ and no MLflow run (kedro-mlflow sets its store up before parameters are read)."""
    from mlflow.tracking import MlflowClient

    if any(p.is_file() for p in (project / "data").rglob("*") if "01_raw" not in p.parts):
        return False
    if not (project / "mlflow.db").exists():
        return True
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    return not client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_an_unknown_pipeline_is_named_with_the_known_ones(project):
    status, lines = kedro_run(project, "--pipelines", "nosuch")
    assert status == 1
    assert_short(lines, "unknown pipeline 'nosuch'; the pipelines are: __default__, adversarial,")
    assert "training" in lines[0] and "gan" in lines[0]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("simplenet.training.lr=nan", "invalid parameter simplenet.training.lr: must be a finite number, got nan"),
        ("simplenet.training.batch_size=-3", "invalid parameter simplenet.training.batch_size: must be > 0, got -3"),
        ("training_defaults.optimizer=rmsprop", "invalid parameter training_defaults.optimizer: must be one of 'sgd', 'adam' or 'adamw'"),
        ("simplenet.training.lrr=0.1", "unknown parameter simplenet.training.lrr: remove it or check its spelling"),
    ],
)
def test_a_bad_parameter_is_named_before_anything_runs(project, params, message):
    status, lines = kedro_run(project, "--env", "test", "--params", params)
    assert status == 1
    assert_short(lines, message)
    assert nothing_written(project)  # no node ran, no MLflow run was opened


def test_a_missing_upstream_output_names_the_pipeline_that_makes_it(project):
    status, lines = kedro_run(project, "--env", "test", "--pipelines", "evaluation")
    assert status == 1
    assert_short(lines, "simplenet.classifier, simplenet.training_history, simplenet_plus.classifier")
    assert any(line.endswith("simplenet_plus.training_history: run `kedro run --pipelines training` first") for line in lines), lines


def test_the_default_run_without_its_raw_data_says_where_to_put_it(project):
    (project / "data" / "01_raw" / "mnist").unlink()  # the shipped MNIST files, linked by the copy
    status, lines = kedro_run(project, "--env", "test")
    assert status == 1
    assert_short(lines, "This run needs inputs that do not exist yet:")
    assert any("put it at" in line and "mnist" in line for line in lines), lines


def test_verbose_shows_the_traceback(project):
    status, lines = kedro_run(project, "--env", "test", "--params", "simplenet.training.lr=nan", "--verbose")
    assert status == 1
    assert "Traceback" in "\n".join(lines) or "╭" in "\n".join(lines)

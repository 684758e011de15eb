"""Fixtures and helpers shared by the test suite.

Kedro, MLflow and PyYAML are imported where they are used, so that the tests of ``core``,
``models`` and ``methods`` (and their ``cuda`` tests) run where only torch and numpy are installed.
"""

import os
import shutil
import socket
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist (`make test`): the workers share the cores, and so do the runs they start
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    os.environ["OMP_NUM_THREADS"] = _threads
    torch.set_num_threads(int(_threads))


#: a folder whose test modules share session fixtures: one pytest-xdist worker runs it all
SHARED_FOLDERS = ("tests/integration/explored/",)


@pytest.hookimpl(optionalhook=True)
def pytest_configure(config):
    """Define kedro-mlflow's KedroPipelineModel once, its warning swallowed, before any test runs.

    MLflow 3.17 warns when a PythonModel subclass has no type hints on predict() (KedroPipelineModel has none; ours
    has), inside its own ``simplefilter("once")``, past every filter: a ``filterwarnings`` entry cannot silence it.
    Warned once here, the "once" registry keeps it from showing in whichever test would import the class first (a
    session silences it with practical_dl.project.known_warnings). Gone once kedro-mlflow adds the type hints."""
    import warnings

    with warnings.catch_warnings(record=True):
        import kedro_mlflow.mlflow  # noqa: F401


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist hands out whole modules (and :data:`SHARED_FOLDERS` whole), so that module and
    session fixtures are built once per suite, not once per worker."""
    from tests.upstream import module_scheduler

    return module_scheduler(config, log, SHARED_FOLDERS)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(config, items):
    """Mark every test in ``tests/integration/`` ``integration``; run :data:`SHARED_FOLDERS` first,
    then the other integration tests (the longest modules, so that workers do not wait for one at
    the end); skip the ``cuda`` tests, with the reason, where PyTorch sees no CUDA device."""

    def rank(item) -> int:
        module = item.nodeid.split("::")[0]
        return 0 if module.startswith(SHARED_FOLDERS) else 1 if module.startswith("tests/integration/") else 2

    for item in items:
        if rank(item) < 2:
            item.add_marker(pytest.mark.integration)
    items.sort(key=rank)
    if torch.cuda.is_available():
        return
    reason = f"needs a CUDA GPU: torch {torch.__version__} sees none on this machine (torch.cuda.is_available() is False)"
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def shipped_parameters(block: str, file: str | None = None, env: str = "base") -> dict:
    """The parameter block ``block`` as shipped in ``conf/<env>/<file>`` (by default ``parameters_<block>.yml``), read afresh."""
    import yaml

    return yaml.safe_load((ROOT / "conf" / env / (file or f"parameters_{block}.yml")).read_text())[block]


@cache
def _training_defaults() -> dict:
    return shipped_parameters("training_defaults", "parameters_training.yml")


def __getattr__(name: str):
    if name == "TRAINING_DEFAULTS":  # the shipped ``training_defaults`` block (conf/base), for tests of parameter checks
        return _training_defaults()
    raise AttributeError(name)


@pytest.fixture(autouse=True)
def _close_pyplot_figures() -> Iterator[None]:
    """Close the figures a test made through pyplot (a report node's picture the catalog would have saved and closed), so
    that a worker running hundreds of tests does not pass matplotlib's 20 open figures and warn."""
    yield
    if (pyplot := sys.modules.get("matplotlib.pyplot")) is not None:
        pyplot.close("all")


@pytest.fixture
def store(tmp_path):
    """A fresh SQLite MLflow store (experiment ``tracking-test``) for this test only, as the tracking URI."""
    import mlflow
    from mlflow.tracking import MlflowClient

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("tracking-test")
    try:
        yield MlflowClient()
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(before)


def make_project_copy(target: Path) -> Path:
    """A runnable copy of the project (configuration and raw data) in ``target``, so that test
    runs never touch the user's data/ or mlflow.db. The package itself is the installed one."""
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    shutil.copy(ROOT / ".telemetry", target / ".telemetry")
    shutil.copytree(ROOT / "conf", target / "conf", ignore=shutil.ignore_patterns("local"))
    (target / "conf" / "local").mkdir()
    (target / "src").mkdir()  # Kedro wants the folder; the package itself is the installed one
    for layer in (ROOT / "data").iterdir():
        if layer.is_dir():
            (target / "data" / layer.name).mkdir(parents=True)
    for raw in ("mnist", "my_digits"):  # the shipped data, read only
        (target / "data" / "01_raw" / raw).symlink_to(ROOT / "data" / "01_raw" / raw)
    return target


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A fresh project copy, as the current directory (Kedro and the pipeline registry read it)."""
    path = make_project_copy(tmp_path)
    monkeypatch.chdir(path)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    return path


def run(path: Path, **kwargs):
    """One ``kedro run --env test`` in this process, from the project copy at ``path``."""
    import mlflow
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(path)
    runtime_params = kwargs.pop("runtime_params", None)
    cwd = os.getcwd()
    os.chdir(path)
    try:
        with KedroSession.create(project_path=path, env="test", runtime_params=runtime_params) as session:
            return session.run(**kwargs)
    finally:
        os.chdir(cwd)
        # kedro-mlflow re-enters its run at every node, and with MLflow 3 one end_run() at the end
        # of the pipeline leaves it on the stack (a CLI process ends it at exit). Close it here so
        # the next session in this process starts its own run.
        while mlflow.active_run() is not None:
            mlflow.end_run()


def runs_of(pipeline: str) -> str:
    """An MLflow filter for the runs of ``kedro run --pipelines <pipeline>`` (``__default__``: the default run)."""
    return f"tags.kedro_command = 'kedro run --pipeline={pipeline}'"


def project_after(tmp_path_factory, name: str, *runs: list[str] | None) -> Iterator[Path]:
    """A project copy in which each of ``runs`` (lists of pipeline names; None: the default
    pipeline) has been run, for module-scoped fixtures."""
    import mlflow

    path = make_project_copy(tmp_path_factory.mktemp(name))
    try:
        for pipelines in runs:
            run(path, pipeline_names=pipelines)
        yield path
    finally:
        mlflow.set_tracking_uri(None)


def free_port() -> int:
    """A loopback TCP port nobody listens on at the moment (nothing listens once it is returned)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answers(url: str, alive, what: str, wait_s: float, poll_s: float = 0.1) -> None:
    """Poll ``url`` until it answers 200; fail with ``alive()``'s message once it is false or ``wait_s`` passes.

    ``alive`` returns None while the server runs, else why it stopped (e.g. the end of its log).
    """
    import time
    import urllib.request

    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        stopped = alive()
        assert stopped is None, f"{what} stopped:\n{stopped}"
        assert time.monotonic() < deadline, f"{what} did not answer {url} within {wait_s:.0f} s"
        time.sleep(poll_s)


def stop_process(process, wait_s: float = 20) -> None:
    """Terminate ``process``, then kill it if it has not ended within ``wait_s``."""
    import subprocess

    process.terminate()
    try:
        process.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        process.kill()


#: the arguments after a Python (or torchrun) that start ``kedro run`` in the ``test`` environment
KEDRO_TEST_RUN = ("-m", "kedro", "run", "--env", "test")


def kedro_env() -> dict[str, str]:
    """The environment of a ``kedro run`` subprocess: no telemetry, no display, wide log lines."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "MPLBACKEND": "Agg", "COLUMNS": "200"}
    env.pop("KEDRO_ENV", None)
    return env


def interrupt_kedro_run(command: list[str], cwd: Path, log: Path, ready, sig: int, wait_s: float = 180, settle_s: float = 0.0) -> int:
    """Start ``command`` in ``cwd`` (output to ``log``), send ``sig`` once ``ready(log_text)`` is
    true, and return the exit code. Fails if the run ends or ``wait_s`` passes before it is ready."""
    import subprocess
    import time

    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=kedro_env(), stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + wait_s
            while not ready(log.read_text()):
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, f"not ready to interrupt within {wait_s} s:\n{log.read_text()[-2000:]}"
                time.sleep(0.05)
            time.sleep(settle_s)
            process.send_signal(sig)
            return process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()


def completed_kedro_run(command: list[str], project: Path, timeout: float = 300):
    """Run ``command`` (a ``kedro run``) in ``project`` to its end; fail with its output's tail unless it succeeds."""
    import subprocess

    done = subprocess.run(command, cwd=project, env=kedro_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:]
    return done

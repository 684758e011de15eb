import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
    (target / "data" / "01_raw" / "mnist").symlink_to(ROOT / "data" / "01_raw" / "mnist")
    return target


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A fresh project copy, as the current directory (Kedro and the pipeline registry read it)."""
    path = make_project_copy(tmp_path)
    monkeypatch.chdir(path)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    return path

"""The package's layers, kept by import-linter's contracts (``[tool.importlinter]`` in pyproject.toml)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "src" / "practical_dl"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
#: what Kedro expects at the top of a project's package; everything else lives in a layer
ENTRY_FILES = {"__init__.py", "__main__.py", "settings.py", "pipeline_registry.py", "cli.py"}
#: modules longer than MAX_LINES, with the reason
LONG_MODULES = {
    "tools/digit_images.py": "one tool: fonts, photographs and pen strokes of digits for the robustness check, and its command line",
}
MAX_LINES = 450


def lint_imports(src: Path, config: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package found in ``src`` (first on the path), with ``config``'s contracts."""
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "300"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"], cwd=config.parent, env=env, capture_output=True, text=True, timeout=120
    )


def test_every_contract_is_kept():
    result = lint_imports(ROOT / "src", ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    "module, wrong_import, broken",
    [
        ("core/engine.py", "from practical_dl.project import reporting", "practical_dl.core.engine -> practical_dl.project.reporting"),
        ("models/networks.py", "from practical_dl.methods import attacks", "practical_dl.models.networks -> practical_dl.methods.attacks"),
        (
            "pipelines/gan/nodes.py",
            "from practical_dl.pipelines.tricks import figures",
            "practical_dl.pipelines.gan.nodes -> practical_dl.pipelines.tricks.figures",
        ),
        ("core/splits.py", "import mlflow", "practical_dl.core.splits -> mlflow"),
        ("serving/inference.py", "import kedro", "practical_dl.serving.inference -> kedro"),
    ],
)
def test_a_wrong_import_breaks_a_contract(tmp_path, module, wrong_import, broken):
    shutil.copytree(PACKAGE, tmp_path / "src" / "practical_dl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "src" / "practical_dl" / module).open("a") as f:
        f.write(f"\n{wrong_import}  # planted by the test\n")
    result = lint_imports(tmp_path / "src", tmp_path / "pyproject.toml")
    assert result.returncode != 0, result.stdout
    assert "1 broken" in result.stdout
    assert broken in result.stdout


def test_the_top_of_the_package_holds_only_kedro_s_entry_files():
    assert {p.name for p in PACKAGE.glob("*.py")} == ENTRY_FILES


def test_no_module_is_a_drawer():
    lengths = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES and name not in LONG_MODULES}
    assert not too_long, f"split these by concern, or give the reason in LONG_MODULES: {too_long}"
    assert all(lengths.get(name, 0) > MAX_LINES for name in LONG_MODULES), "LONG_MODULES lists a module that is short now"

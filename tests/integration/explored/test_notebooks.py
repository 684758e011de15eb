"""Every notebook in ``notebooks/`` runs top to bottom on the outputs of the test environment's
pipelines (``KEDRO_ENV=test``), so that a notebook cannot rot; none writes into ``data/``, and
none is committed with outputs."""

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks_and_none_is_committed_with_outputs():
    assert NOTEBOOKS, "notebooks/ holds no notebook"
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code[0].source.startswith("%load_ext kedro.ipython"), f"{path.name} does not open on the project"
        dirty = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and (cell.outputs or cell.execution_count)]
        assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing"


def _data_files(project: Path) -> dict[str, tuple[int, int]]:
    data = project / "data"
    return {str(f.relative_to(data)): (f.stat().st_size, f.stat().st_mtime_ns) for f in data.rglob("*") if f.is_file()}


@pytest.mark.parametrize("source", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom_on_the_pipelines_outputs(explored_project, source, monkeypatch):
    folder = explored_project / "notebooks"
    folder.mkdir(exist_ok=True)
    path = Path(shutil.copy(source, folder / source.name))
    before = _data_files(explored_project)
    for key, value in {"KEDRO_ENV": "test", "KEDRO_DISABLE_TELEMETRY": "true", "MPLBACKEND": "Agg"}.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{source.name} failed:\n{error}")
    assert _data_files(explored_project) == before, f"{source.name} wrote into data/"
    shown = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any("image/png" in o.get("data", {}) for o in shown), f"{source.name} drew no picture"

"""The project after every pipeline, run once and read by every test module in this folder.

`make test`'s pytest-xdist workers run this folder on one worker (``tests/conftest.py``), so the
runs are made once per suite.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import project_after

#: what ``explored_project`` runs, in order (None: the default pipeline)
RUNS = (
    None,
    ["predict"],
    ["adversarial"],
    ["patch"],
    ["gan"],
    ["augmentation", "tricks"],
    ["transfer_learning"],
    ["batch_lr"],
    ["dropout_ensemble"],
    ["depth_bn"],
)


@pytest.fixture(scope="session")
def explored_project(tmp_path_factory) -> Iterator[Path]:
    """A project copy after the default run and every pipeline the notebooks and the modules here read."""
    yield from project_after(tmp_path_factory, "explored", *RUNS)

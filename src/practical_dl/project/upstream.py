"""The one place where the project reaches into another package's private names.

Each use says what it waits for; ``tests/test_upstream.py`` fails loudly when a name moves, and a
test walks the sources so that no other module uses such a name (the test suite's own adapter,
for pytest-xdist, is ``tests/upstream.py``).
"""

from __future__ import annotations

from typing import Any

#: Private names of other packages used here, and what each waits for.
WAITING_FOR = {
    "kedro_mlflow MlflowArtifactDataset: the wrapped dataset's _version": (
        "kedro-mlflow 3.x builds the wrapped dataset inside MlflowArtifactDataset.__new__ and takes no `version`, so a "
        "`versioned: true` entry made from a factory pattern gets a save version of its own and Kedro's catalog refuses "
        "it (VersionAlreadyExistsError); remove when MlflowArtifactDataset passes the catalog's version on"
    ),
}


def use_catalog_version(dataset: Any, version: Any) -> Any:
    """Give a dataset built by ``MlflowArtifactDataset`` the catalog's ``version`` (see :data:`WAITING_FOR`)."""
    dataset._version = version
    return dataset

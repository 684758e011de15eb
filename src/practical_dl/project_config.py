"""Reading the project's parameters while pipelines are being built.

Kedro builds pipelines before it loads the catalog, so a pipeline whose shape depends on
configuration (which models to train) reads ``conf/`` here, with the same config loader and
settings that ``kedro run`` uses. The environment is ``$KEDRO_ENV`` or the default ``local``:
the set of models is meant to be declared in ``conf/base``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kedro.framework.project import settings
from kedro.utils import find_kedro_project


def load_project_parameters(project_path: Path | None = None) -> dict[str, Any]:
    """All parameters of the project in the current directory (or ``project_path``)."""
    root = project_path or find_kedro_project(Path.cwd())
    if root is None:
        raise RuntimeError(f"no Kedro project found at or above {Path.cwd()}; run kedro from the project folder")
    args = dict(settings.CONFIG_LOADER_ARGS)
    loader = settings.CONFIG_LOADER_CLASS(conf_source=str(Path(root) / settings.CONF_SOURCE), env=os.getenv("KEDRO_ENV"), **args)
    return loader["parameters"]

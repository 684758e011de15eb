"""Reading the project's parameters while pipelines are being built.

Kedro builds pipelines before it loads the catalog, so a pipeline whose shape depends on
configuration (which models to train, which sweeps and budgets to run) reads ``conf/`` here.
Inside a ``kedro run`` that is the run's own config loader (environment and ``--params``
included), recorded by :class:`ProjectContext`; elsewhere (``kedro registry list``,
``kedro viz``) a loader for ``$KEDRO_ENV`` or the default ``local`` environment.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from kedro.config import AbstractConfigLoader
from kedro.framework.context import KedroContext
from kedro.framework.project import settings
from kedro.utils import find_kedro_project

_active_loader: AbstractConfigLoader | None = None
_active_project: Path | None = None
#: the active loader's parameters, read once: each pipeline factory asks for them
_active_parameters: dict[str, Any] | None = None


class ProjectContext(KedroContext):
    """Kedro's context, which also hands its config loader to the pipeline factories."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        global _active_loader, _active_project, _active_parameters
        _active_loader = self.config_loader
        _active_project = Path(self.project_path)
        _active_parameters = None


def parameter_error(raw: dict[str, Any], scope: list[str] | None, failure: Exception) -> Exception:
    """The project's words for Kedro's failed validation of typed parameters (a
    ``ParameterValidationError``): one line per mistake, each typed block of the pipelines in
    ``scope`` (None: all) validated again by its type
    (``invalid parameter simplenet.training.lr: must be > 0, got -1``)."""
    from kedro.framework.project import pipelines
    from kedro.validation.type_extractor import TypeExtractor
    from pydantic import BaseModel

    from practical_dl.core.params import ParameterError, nested_value, settings_from_params, unwrap_optional

    names = [name for name in pipelines if not name.startswith("__")] if scope is None else scope
    requirements = TypeExtractor({name: pipelines[name] for name in names}).extract_types_from_pipelines()
    lines = []
    for key, expected in requirements.items():
        (found, value), model = nested_value(raw, key), unwrap_optional(expected)
        if not found or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        try:
            settings_from_params(model, value, key)
        except ParameterError as exc:
            lines.extend(str(exc).splitlines())
    if not lines:  # not a mistake the types describe: Kedro's own words
        return failure
    return ParameterError("\n".join(dict.fromkeys(lines)))


def _loader_and_root(project_path: Path | None = None) -> tuple[AbstractConfigLoader, Path]:
    if _active_loader is not None and project_path is None:
        return _active_loader, _active_project
    root = project_path or find_kedro_project(Path.cwd())
    if root is None:
        raise RuntimeError(f"no Kedro project found at or above {Path.cwd()}; run kedro from the project folder")
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(Path(root) / settings.CONF_SOURCE), env=os.getenv("KEDRO_ENV"), **settings.CONFIG_LOADER_ARGS
    )
    return loader, Path(root)


def existing_datasets(names: list[str], project_path: Path | None = None) -> list[str]:
    """Those of the catalog entries ``names`` whose data exist now (e.g. which models have been
    trained), for pipelines whose default is "whatever has been made". The catalog is built from
    the configuration without Kedro's hooks: nothing is loaded, written or tracked."""
    from kedro.io import DataCatalog

    loader, root = _loader_and_root(project_path)
    catalog = DataCatalog.from_config(_absolute_paths(loader["catalog"], root))
    return [name for name in names if catalog.exists(name)]


def _absolute_paths(conf: Any, root: Path) -> Any:
    """The catalog's configuration with every relative local ``filepath`` / ``path`` under ``root``."""
    if isinstance(conf, dict):
        return {
            key: str(root / value) if key in ("filepath", "path") and _is_relative_local(value) else _absolute_paths(value, root)
            for key, value in conf.items()
        }
    return conf


def _is_relative_local(value: Any) -> bool:
    return isinstance(value, str) and "://" not in value and not Path(value).is_absolute()


def load_project_parameters(project_path: Path | None = None) -> dict[str, Any]:
    """All parameters of the running session, or of the project in the current directory.

    The running session's are merged from ``conf/`` once and handed out as copies.
    """
    global _active_parameters
    if _active_loader is None or project_path is not None:
        return _loader_and_root(project_path)[0]["parameters"]
    if _active_parameters is None:
        _active_parameters = _active_loader["parameters"]
    return copy.deepcopy(_active_parameters)

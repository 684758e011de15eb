"""The project's parameters for building pipelines, read once per run.

Kedro builds pipelines before it loads the catalog, so a pipeline whose shape depends on
configuration (which models to train, which sweep members to run) needs the parameters first.
``register_pipelines`` reads them once — inside a ``kedro run`` from the run's own config loader
(its ``--env`` and ``--params``), recorded by :class:`ProjectContext`; elsewhere (``kedro registry
list``, ``kedro viz``) from a loader for ``$KEDRO_ENV`` or the default ``local`` environment — and
hands them to every ``create_pipeline`` (:func:`pipeline_parameters`). Building reads no data
file and builds no network.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from kedro.config import AbstractConfigLoader, OmegaConfigLoader
from kedro.framework.context import KedroContext
from kedro.framework.project import settings
from kedro.utils import find_kedro_project

#: The config loader of the latest context (the running session's), and its project folder.
_active_loader: AbstractConfigLoader | None = None
_active_project: Path | None = None

#: The parameters ``register_pipelines`` read, while it builds the pipelines.
_building: ContextVar[Mapping[str, Any] | None] = ContextVar("practical_dl_pipeline_parameters", default=None)


class ProjectConfigLoader(OmegaConfigLoader):
    """Kedro's ``OmegaConfigLoader`` that reads the parameter and catalog files once per loader.

    Building the pipelines, Kedro's check of typed parameters and the catalog all ask for them;
    each caller gets its own copy.
    """

    CACHED = ("parameters", "catalog")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._files_read: dict[str, Any] = {}

    def __getitem__(self, key: str) -> dict[str, Any]:
        if key not in self.CACHED or key in self:  # a key set on the loader itself is Kedro's to answer
            return super().__getitem__(key)
        if key not in self._files_read:
            self._files_read[key] = super().__getitem__(key)
        return copy.deepcopy(self._files_read[key])


class ProjectContext(KedroContext):
    """Kedro's context, which also records its config loader as the one pipelines are built from."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        global _active_loader, _active_project
        _active_loader = self.config_loader
        _active_project = Path(self.project_path)


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


def load_project_parameters(project_path: Path | None = None) -> dict[str, Any]:
    """All parameters of the running session (its environment and ``--params``), or of the
    project in ``project_path`` or the current directory (for ``$KEDRO_ENV``)."""
    return _loader_and_root(project_path)[0]["parameters"]


@contextmanager
def parameters_for_pipelines(parameters: Mapping[str, Any]) -> Iterator[None]:
    """Within this, ``create_pipeline()`` called without parameters builds from ``parameters``.

    ``register_pipelines`` reads the parameters once and builds inside this: Kedro's
    ``find_pipelines`` (which loads only the pipelines ``--pipelines`` asks for) calls each
    ``create_pipeline`` with no arguments.
    """
    token = _building.set(parameters)
    try:
        yield
    finally:
        _building.reset(token)


def pipeline_parameters(parameters: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """What a ``create_pipeline`` builds from: ``parameters`` when given, else those
    ``register_pipelines`` read for this build, else the project's (:func:`load_project_parameters`)."""
    if parameters is not None:
        return parameters
    building = _building.get()
    return building if building is not None else load_project_parameters()


def existing_datasets(names: list[str], project_path: Path | None = None) -> list[str]:
    """Those of the catalog entries ``names`` whose file exists now (e.g. which models have been
    trained), for pipelines whose default is "whatever has been made".

    A stat per entry, never a load: the entry's ``filepath`` (or its wrapped dataset's) is resolved
    from the catalog's configuration, factory patterns included, and a versioned entry exists when
    any version of it does. An entry with a remote path counts as existing (the run itself says if
    it is missing); a name the catalog does not know does not.
    """
    from kedro.io import CatalogConfigResolver

    loader, root = _loader_and_root(project_path)
    resolver = CatalogConfigResolver(config=loader["catalog"], default_runtime_patterns=MEMORY)
    return [name for name in names if _exists(resolver, name, root)]


#: What Kedro's catalog makes of a name it does not know: a dataset in memory, which nothing made yet.
MEMORY = {"{default}": {"type": "kedro.io.MemoryDataset"}}


def _exists(resolver: Any, name: str, root: Path) -> bool:
    if name not in resolver.config and resolver.match_dataset_pattern(name) is None:
        return False
    config = resolver.resolve_pattern(name)
    inner = config.get("dataset") if isinstance(config.get("dataset"), dict) else {}
    filepath = config.get("filepath") or config.get("path") or inner.get("filepath") or inner.get("path")
    if not isinstance(filepath, str) or "://" in filepath:
        return True
    path = Path(filepath) if Path(filepath).is_absolute() else root / filepath
    if config.get("versioned") or inner.get("versioned"):
        return any(path.glob(f"*/{path.name}"))  # <filepath>/<version>/<file name>, as Kedro versions it
    return path.exists()

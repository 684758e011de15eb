"""Stop a run at once when an input it needs has not been produced yet."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline


class MissingInputError(RuntimeError):
    """An input of the pipeline has not been produced yet."""


#: the registered pipeline that holds every other (``make lecture``)
LECTURE = "lecture"


def producing_pipelines(dataset: str, requested: list[str] | None = None) -> list[str]:
    """Names of the project's registered pipelines that output ``dataset``, the whole lecture
    (``lecture``, every pipeline together) and ``__default__`` aside: the hint names the one to run.

    Asks Kedro's pipeline registry for every pipeline, then for the ``requested`` ones again (what
    this run asked for: ``kedro run --pipelines X`` has Kedro load ``X`` only).
    """
    from kedro.framework.project import pipelines as registry

    registry.set_requested(None)
    try:
        found = {name: pipeline for name, pipeline in registry.items() if not name.startswith("__") and name != LECTURE}
    finally:
        registry.set_requested(requested or None)
    return sorted(name for name, pipeline in found.items() if dataset in pipeline.all_outputs())


def _where(catalog, name: str) -> str:
    """Where the catalog expects a raw input, for the message that says it is missing."""
    try:
        config = catalog.config_resolver.config.get(name) or catalog.config_resolver.resolve_pattern(name)
    except Exception:  # an entry that cannot even be resolved: the catalog is the place to look
        config = {}
    location = config.get("path") or config.get("filepath")
    return f"put it at {location} (conf/base/catalog.yml)" if location else "check conf/base/catalog.yml"


class CheckInputsHook:
    """A pipeline run before its upstream fails at once with the pipeline to run first."""

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run that a failed check would leave open
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        missing = []
        for name in sorted(pipeline.inputs()):
            if name.startswith("params:") or name == "parameters":
                continue
            if not catalog.exists(name):
                missing.append(name)
        if not missing:
            return
        lines, made_by = [], {}
        for name in missing:
            upstream = producing_pipelines(name, run_params.get("pipeline_names"))
            if upstream:  # one line per pipeline to run, naming what it makes
                made_by.setdefault(" or ".join(f"`kedro run --pipelines {p}`" for p in upstream), []).append(name)
            else:
                lines.append(f"  - {name}: no registered pipeline makes it; {_where(catalog, name)}")
        lines += [f"  - {', '.join(names)}: run {hint} first" for hint, names in made_by.items()]
        raise MissingInputError("This run needs inputs that do not exist yet:\n" + "\n".join(lines))

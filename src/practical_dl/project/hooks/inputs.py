"""Stop a run at once when an input it needs has not been produced yet."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline


class MissingInputError(RuntimeError):
    """An input of the pipeline has not been produced yet."""


def producing_pipelines(dataset: str) -> list[str]:
    """Names of the project's registered pipelines that output ``dataset``.

    Asks Kedro's pipeline registry for every pipeline: ``kedro run --pipelines X`` has asked it for
    ``X`` only, which is requested again afterwards.
    """
    from kedro.framework.project import pipelines as registry

    requested = getattr(registry, "_requested_pipelines", None)  # what this run asked for (no public getter)
    registry.set_requested(None)
    try:
        found = {name: pipeline for name, pipeline in registry.items() if not name.startswith("__")}
    finally:
        registry.set_requested(requested)
    return sorted(name for name, pipeline in found.items() if dataset in pipeline.all_outputs())


def _where(catalog, name: str) -> str:
    """Where the catalog expects a raw input, for the message that says it is missing."""
    try:
        described = catalog.get(name)._describe()
    except Exception:  # an entry that cannot even be built: the catalog is the place to look
        return "check conf/base/catalog.yml"
    location = described.get("path") or described.get("filepath")
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
            upstream = producing_pipelines(name)
            if upstream:  # one line per pipeline to run, naming what it makes
                made_by.setdefault(" or ".join(f"`kedro run --pipelines {p}`" for p in upstream), []).append(name)
            else:
                lines.append(f"  - {name}: no registered pipeline makes it; {_where(catalog, name)}")
        lines += [f"  - {', '.join(names)}: run {hint} first" for hint, names in made_by.items()]
        raise MissingInputError("This run needs inputs that do not exist yet:\n" + "\n".join(lines))

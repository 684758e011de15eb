"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

#: ``kedro run`` with no ``--pipelines``: the lecture's table end to end.
DEFAULT_PIPELINES = ("data_ingestion", "standardisation", "augmentation", "training", "evaluation")


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``kedro run --pipelines NAME`` makes Kedro load only the pipelines asked for, so
    ``__default__`` is composed only when all of its parts were loaded.
    """
    pipelines = find_pipelines(raise_errors=True)
    if all(name in pipelines for name in DEFAULT_PIPELINES):
        pipelines["__default__"] = sum((pipelines[name] for name in DEFAULT_PIPELINES), Pipeline([]))
    return pipelines

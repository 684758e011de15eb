"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from practical_dl.project.context import load_project_parameters, parameters_for_pipelines

#: ``kedro run`` with no ``--pipelines``: the lecture's table end to end.
DEFAULT_PIPELINES = ("data_ingestion", "standardisation", "augmentation", "training", "evaluation")


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    The parameters are read once, here (the run's ``--env`` and ``--params``, or ``$KEDRO_ENV``'s
    outside a run), and every ``create_pipeline`` builds from them: Kedro's ``find_pipelines``
    calls each with no arguments, and loads only the pipelines ``kedro run --pipelines NAME``
    asks for, so ``__default__`` is composed only when all of its parts were loaded.
    """
    with parameters_for_pipelines(load_project_parameters()):
        pipelines = find_pipelines(raise_errors=True)
        if "lecture" in pipelines:  # `kedro run --pipelines lecture`: every part of the lecture, then its page
            pipelines["lecture"] = lecture_pipeline(pipelines)
    if all(name in pipelines for name in DEFAULT_PIPELINES):
        pipelines["__default__"] = sum((pipelines[name] for name in DEFAULT_PIPELINES), Pipeline([]))
    return pipelines


def lecture_pipeline(found: dict[str, Pipeline]) -> Pipeline:
    """``lecture``: the pipelines of every part of :data:`~practical_dl.project.lecture.LECTURE_PARTS`, each node
    tagged ``lecture.<part>``, then the lecture's own nodes (its page). Parts not loaded (``--pipelines lecture``
    has Kedro load ``lecture`` only) are built here, as Kedro's ``find_pipelines`` builds them."""
    from practical_dl.pipelines import (
        adversarial,
        augmentation,
        batch_lr,
        data_ingestion,
        depth_bn,
        dropout_ensemble,
        evaluation,
        gan,
        patch,
        standardisation,
        training,
        transfer_learning,
        tricks,
    )
    from practical_dl.project.lecture import LECTURE_PARTS

    packages = (adversarial, augmentation, batch_lr, data_ingestion, depth_bn, dropout_ensemble, evaluation, gan, patch)
    packages += (standardisation, training, transfer_learning, tricks)
    factories = {package.__name__.rpartition(".")[2]: package.create_pipeline for package in packages}

    def built(name: str) -> Pipeline:
        return found[name] if name in found else factories[name]()

    parts = (sum((built(name) for name in part.pipelines), Pipeline([])).tag(part.tag) for part in LECTURE_PARTS)
    return sum(parts, Pipeline([])) + found["lecture"]

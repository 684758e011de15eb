"""Nested MLflow runs for experiments that train many models in one ``kedro run`` (sweeps).

kedro-mlflow opens one run per ``kedro run`` (``nested: True`` in ``mlflow.yml`` allows
children); each sweep member gets a child run of its own, tagged with its sweep, so the
MLflow UI can filter a sweep (``tags.sweep = 'batch_size'``) and compare its members.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import mlflow

logger = logging.getLogger(__name__)

#: What Kedro says of the run in progress (session id, environment, pipelines), recorded by
#: ``practical_dl.hooks.RunInfoHook`` so that what a run logs to MLflow can name it.
kedro_run: dict[str, str] = {}


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


class MemberRun:
    """The child run of one sweep member, or a no-op when tracking is off."""

    def __init__(self, run: mlflow.ActiveRun | None) -> None:
        self.run = run
        self.status = "FINISHED"

    @property
    def run_id(self) -> str | None:
        return self.run.info.run_id if self.run else None

    def log_history(self, history: list[dict[str, float]], keys: tuple[str, ...]) -> None:
        if not self.run:
            return
        for row in history:
            metrics = {k: float(row[k]) for k in keys if k in row}
            mlflow.log_metrics(metrics, step=int(row["epoch"]))

    def log_metrics(self, metrics: dict[str, float]) -> None:
        if self.run:
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})

    def mark_diverged(self, reason: str) -> None:
        """Tag the run ``diverged=true`` with the reason, and end it as FAILED."""
        self.status = "FAILED"
        if self.run:
            mlflow.set_tags({"diverged": "true", "divergence_reason": reason})


@contextmanager
def member_run(name: str, tags: dict[str, str], params: dict[str, Any], enabled: bool = True) -> Iterator[MemberRun]:
    """Start a child MLflow run (nested under the active ``kedro run``) for one sweep member."""
    if not enabled:
        yield MemberRun(None)
        return
    run = mlflow.start_run(run_name=name, nested=mlflow.active_run() is not None, tags={**tags, "diverged": "false"})
    member = MemberRun(run)
    try:
        mlflow.log_params({k: str(v)[:250] for k, v in flatten(params).items()})
        yield member
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run(status=member.status)


def register_classifier(classifier, name: str, registered_name: str, example_image, tags: dict[str, str]) -> dict[str, Any]:
    """Log ``classifier`` as an MLflow model in the active run and register it as a new version
    of ``registered_name``, tagged with ``tags`` and the Kedro run; a no-op when tracking is off."""
    from practical_dl.serving import log_classifier_model

    if mlflow.active_run() is None:
        logger.info("%s: MLflow tracking is off for this run; the model is not registered", classifier.label)
        return {"registered": False}
    tags = {**tags, **{f"kedro.{k}": str(v) for k, v in kedro_run.items()}}
    info = log_classifier_model(classifier, name, example_image, registered_model_name=registered_name, tags=tags)
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(registered_name, version, key, value)
    logger.info("%s: registered as models:/%s/%s (MLflow model %s)", classifier.label, registered_name, version, info.model_uri)
    return {
        "registered": True,
        "registered_model": registered_name,
        "version": version,
        "model_uri": f"models:/{registered_name}/{version}",
        "logged_model_uri": info.model_uri,
        "run_id": mlflow.active_run().info.run_id,
        "tags": tags,
    }

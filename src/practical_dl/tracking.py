"""What a run tells MLflow beyond kedro-mlflow's datasets: the metrics of every epoch as it ends
(:class:`EpochMetrics`, a collaborator of the training loop), nested runs for experiments that
train many models in one ``kedro run`` (sweeps), and registered models.

kedro-mlflow opens one run per ``kedro run`` (``nested: True`` in ``mlflow.yml`` allows
children); each sweep member gets a child run of its own, tagged with its sweep, so the
MLflow UI can filter a sweep (``tags.sweep = 'batch_size'``) and compare its members.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
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


class EpochMetrics:
    """Logs every epoch's history row to the active MLflow run as the epoch ends
    (``<prefix>.<key>``, step = epoch), as a collaborator of :func:`practical_dl.loop.train_epochs`.

    It notes its run in the training state (``state.meta``, saved with the checkpoint; put it
    before the checkpointer). When a run goes on from a checkpoint, the new MLflow run gets the
    history restored from it (the same steps) and the tags ``resumed_from`` (the MLflow run that
    made the checkpoint) and ``resumed_from.<prefix>`` ("<run id> after epoch k"); its own epochs
    carry on from step k + 1. Without an active run it does nothing.
    """

    def __init__(self, prefix: str = "", keys: Sequence[str] | None = None) -> None:
        self.prefix = f"{prefix}." if prefix else ""
        self.keys = tuple(keys) if keys is not None else None
        self.meta_key = f"mlflow_run_id.{prefix}" if prefix else "mlflow_run_id"

    def _metrics(self, row: dict[str, Any]) -> dict[str, float]:
        keys = self.keys if self.keys is not None else [k for k in row if k != "epoch"]
        return {f"{self.prefix}{k}": float(row[k]) for k in keys if k in row and isinstance(row[k], (int, float))}

    def on_resume(self, state) -> None:
        run = mlflow.active_run()
        if run is None:
            return
        for row in state.history:
            mlflow.log_metrics(self._metrics(row), step=int(row["epoch"]))
        previous = state.meta.get(self.meta_key, "")
        tags = {f"resumed_from.{self.prefix.rstrip('.') or 'run'}": f"{previous or 'an untracked run'} after epoch {state.epoch}"}
        if previous:
            tags["resumed_from"] = previous
        mlflow.set_tags(tags)

    def on_epoch_end(self, state) -> None:
        run = mlflow.active_run()
        if run is None:
            return
        row = state.history[-1]
        mlflow.log_metrics(self._metrics(row), step=int(row["epoch"]))
        state.meta[self.meta_key] = run.info.run_id

    def log(self, values: dict[str, float], step: int = 0) -> None:
        """Other numbers of the same training under the same prefix (e.g. the best epoch)."""
        if mlflow.active_run() is not None:
            mlflow.log_metrics({f"{self.prefix}{k}": float(v) for k, v in values.items()}, step=step)


class MemberRun:
    """The child run of one sweep member, or a no-op when tracking is off."""

    def __init__(self, run: mlflow.ActiveRun | None) -> None:
        self.run = run
        self.status = "FINISHED"

    @property
    def run_id(self) -> str | None:
        return self.run.info.run_id if self.run else None

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

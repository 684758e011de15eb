"""What a run tells MLflow beyond kedro-mlflow's datasets: the metrics of every epoch as it ends
(:class:`EpochMetrics`, a collaborator of the training loop), nested runs for experiments that
train many models in one ``kedro run`` (sweeps), and registered models.

kedro-mlflow opens one run per ``kedro run`` (``nested: True`` in ``mlflow.yml`` allows
children); each sweep member gets a child run of its own, tagged with its sweep, so the
MLflow UI can filter a sweep (``tags.sweep = 'batch_size'``) and compare its members.

What a person meets in the MLflow UI (:func:`name_kedro_run`, :func:`update_comparison_view`,
called by ``practical_dl.project.hooks.run_info.RunInfoHook``): runs named after what ran and when, an experiment
tagged as model development, and a saved view of the runs table with each model's test error,
opened by the address :func:`comparison_view_url` gives (``make mlflow-ui`` prints it).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import mlflow

logger = logging.getLogger(__name__)


#: What Kedro says of the run in progress (session id, environment, pipelines), recorded by
#: ``practical_dl.project.hooks.run_info.RunInfoHook`` so that what a run logs to MLflow can name it.
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


#: what a classifier's training logs to MLflow as each epoch ends
HISTORY_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


class EpochMetrics:
    """Logs every epoch's history row to the active MLflow run as the epoch ends
    (``<prefix>.<key>``, step = epoch), as a collaborator of :func:`practical_dl.core.loop.train_epochs`.

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
    """Start a child MLflow run (nested under the active ``kedro run``) for one sweep member; a no-op
    when not ``enabled`` and on the ranks of a ``torchrun`` launch that do not track (all but 0)."""
    from practical_dl.core.distributed import is_main_process

    if not enabled or not is_main_process():
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
    from practical_dl.serving.mlflow_model import log_classifier_model

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


#: MLflow 3's UI shows an experiment in its GenAI mode (traces, token usage) unless told it holds
#: trained models. Its code reads this experiment tag where its "GenAI / Model training" switch is
#: off; in MLflow 3.17 the switch is always on and decides alone (kept in the browser, GenAI by
#: default), and an address sets it with ``workflowType=machine_learning``: :func:`comparison_view_url`
#: adds it.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"


MODEL_DEVELOPMENT = "custom_model_development"


#: The runs table's saved view that lists each model's test error: the experiment tag
#: ``mlflow.sharedViewState.<key>`` that the UI's "Views" menu lists by name and that the address
#: ``#/experiments/<id>/runs?viewStateShareKey=<key>`` opens.
COMPARISON_VIEW_KEY = "test_error_per_model"


COMPARISON_VIEW_NAME = "Test error per model"


SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."


TEST_ERROR = "test_error_percent"  # {model}.test_error_percent; a sweep member's own run: test_error_percent


def run_name(pipeline_names: Sequence[str], runtime_params: dict[str, Any] | None, start_time_ms: int) -> str:
    """``"default @ 11-27 20:39"``, ``"training (simplenet.training.lr=0.1) @ 11-27 20:41"``: the
    pipelines (``+`` between them), the ``--params`` given and the run's start (month-day hour:minute,
    local time; short enough for the UI's Run Name column), so that runs of the same pipeline differ
    in the UI's tables and chart legends."""
    what = "+".join("default" if name == "__default__" else name for name in pipeline_names) or "default"
    overrides = ", ".join(f"{key}={value}" for key, value in flatten(runtime_params or {}).items())
    if overrides:
        what = f"{what} ({overrides[:150]}{'...' if len(overrides) > 150 else ''})"
    return f"{what} @ {datetime.fromtimestamp(start_time_ms / 1000):%m-%d %H:%M}"


def name_kedro_run(pipeline_names: Sequence[str], runtime_params: dict[str, Any] | None) -> str | None:
    """Once kedro-mlflow has started the run of a ``kedro run``: rename it with :func:`run_name` and
    tag its experiment as model development where it has no kind yet (an experiment created before
    ``mlflow.yml`` gave one). Returns the run's id, None when the run is not tracked.

    Only the name kedro-mlflow gives by default (the pipeline names, ``tracking.run.name: null``) is
    replaced: a name set in ``mlflow.yml``, or a run started outside Kedro, keeps its own."""
    active = mlflow.active_run()
    if active is None:
        return None
    client = mlflow.MlflowClient()
    run = client.get_run(active.info.run_id)
    if run.info.run_name == "+".join(pipeline_names):
        client.update_run(run.info.run_id, name=run_name(pipeline_names, runtime_params, run.info.start_time))
    experiment = client.get_experiment(run.info.experiment_id)
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT)
    return run.info.run_id


def _natural(key: str) -> list:
    """fc64 before fc256_fc256: numbers in a name compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def comparison_view_state(metric_keys: Iterable[str]) -> dict[str, Any]:
    """The state of the runs table that the UI restores from a shared view: newest run first, the
    columns Duration, the Kedro environment and each of ``metric_keys``.

    Column names as the UI writes them: ``attributes.`Duration```, ``tags.`env```,
    ``metrics.`<key>```; ``columnOrder`` and ``columnWidths`` use its grid's column ids, the same
    except Duration's (``duration``). Keys left out take the UI's defaults."""
    metrics = [f"metrics.`{key}`" for key in sorted(set(metric_keys), key=_natural)]
    return {
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
        "selectedColumns": ["attributes.`Duration`", "tags.`env`", *metrics],
        "columnOrder": ["duration", "tags.`env`", *metrics],
        "columnWidths": {column: 190 for column in metrics},  # room for "fc256_fc256.test_error_percent"
    }


def _view_metric_keys(tag_value: str | None) -> list[str]:
    """The metric columns of the saved view in ``tag_value`` (none if it is missing or unreadable)."""
    try:
        state = json.loads(json.loads(tag_value)["state"])
        columns = state["selectedColumns"]
    except (TypeError, ValueError, KeyError):
        return []
    return [c.removeprefix("metrics.`")[:-1] for c in columns if isinstance(c, str) and c.startswith("metrics.`") and c.endswith("`")]


def update_comparison_view(run_id: str) -> str:
    """Add the test errors that run ``run_id`` and its child runs logged to the experiment's saved
    view :data:`COMPARISON_VIEW_NAME` (created if missing; columns are only ever added, so a run of
    one model keeps the others' columns). Returns the experiment's id.

    The tag holds what the UI's "Save as new view" writes: ``{"name", "createdAt", "updatedAt",
    "state"}`` with ``state`` a JSON text (the UI also reads it deflated, ``deflate;<base64>``)."""
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    children = client.search_runs([experiment.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'")
    logged = {key for r in (run, *children) for key in r.data.metrics if key == TEST_ERROR or key.endswith(f".{TEST_ERROR}")}
    tag = SHARED_VIEW_TAG_PREFIX + COMPARISON_VIEW_KEY
    previous = experiment.tags.get(tag)
    state = json.dumps(comparison_view_state(set(_view_metric_keys(previous)) | logged))
    try:
        envelope = json.loads(previous)
        if envelope["state"] == state:
            return experiment.experiment_id
    except (TypeError, ValueError, KeyError):
        envelope = {}
    now = int(time.time() * 1000)
    envelope = {"name": COMPARISON_VIEW_NAME, "createdAt": envelope.get("createdAt", now), "updatedAt": now, "state": state}
    client.set_experiment_tag(experiment.experiment_id, tag, json.dumps(envelope))
    return experiment.experiment_id


def ui_address(mlflow_config) -> str:
    """Where the MLflow UI of kedro-mlflow's configuration answers: the tracking server itself, or
    ``kedro mlflow ui``'s host and port (``ui`` in ``mlflow.yml``) for a local store."""
    uri = str(mlflow_config.server.mlflow_tracking_uri)
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    return f"http://{mlflow_config.ui.host}:{mlflow_config.ui.port}"


def comparison_view_url(address: str, experiment_id: str, with_view: bool = True) -> str:
    """The UI's address of an experiment's runs table in its model-training mode, on the saved view
    of each model's test error (``with_view``: the experiment has it; without it the UI says the view
    does not exist)."""
    url = f"{address}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    return f"{url}&viewStateShareKey={COMPARISON_VIEW_KEY}" if with_view else url

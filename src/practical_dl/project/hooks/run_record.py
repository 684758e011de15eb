"""Keep the run record, make ``--only-missing-outputs`` rerun what is out of date, and say how far a run is.

After every node whose outputs are saved, the record (catalog entry ``node_runs``,
:mod:`practical_dl.project.run_record`) gets its time, when it finished, a digest of each parameter
it read and its outputs. Before a run with ``--only-missing-outputs`` (``make lecture``), nodes
whose parameters changed, or whose inputs are (or were) made again, are run again: their outputs are
declared missing to Kedro's own filter, through the catalog it is handed; nodes that are done keep
their MLflow metrics (logged in the run that made them) instead of running again for them. The plan
and one line per node go to the log (:mod:`practical_dl.project.progress`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractDataset, MemoryDataset
from kedro.pipeline import Pipeline
from kedro_mlflow.io.metrics import MlflowMetricDataset, MlflowMetricHistoryDataset, MlflowMetricsHistoryDataset

from practical_dl.project.lecture import part_of
from practical_dl.project.progress import Progress, expected_seconds
from practical_dl.project.run_record import NodeRun, RunRecord, digest, is_parameter, nodes_to_run, out_of_date, parts_of, plain

logger = logging.getLogger(__name__)

#: the catalog entry of the run record; a project without it keeps none
RECORD = "node_runs"
#: MLflow metrics: "missing" from every new MLflow run, so they do not decide whether a node runs again
METRICS = (MlflowMetricDataset, MlflowMetricHistoryDataset, MlflowMetricsHistoryDataset)


class FixedExistence(AbstractDataset):
    """A dataset whose existence this run has decided; it loads and saves through the dataset it wraps."""

    def __init__(self, dataset: AbstractDataset, exists: bool) -> None:
        self.dataset = dataset
        self.decided = exists

    def load(self) -> Any:
        return self.dataset.load()

    def save(self, data: Any) -> None:
        self.dataset.save(data)

    def _exists(self) -> bool:
        return self.decided

    def _describe(self) -> dict[str, Any]:
        return {"dataset": type(self.dataset).__name__, "exists": self.decided}


class _ReplacingFilter(logging.Filter):
    """Drops the catalog's "Replacing dataset" warnings: the datasets this hook replaces, on purpose, for this run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Replacing dataset")


class RunRecordHook:
    """Records every node's run, reruns what is out of date under ``--only-missing-outputs``, logs progress."""

    def __init__(self) -> None:
        self.catalog: Any = None
        self.record = RunRecord()
        self.part: dict[str, str] = {}
        self.digests: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.progress: Progress | None = None
        self.started: dict[str, float] = {}
        self.unsaved: dict[str, tuple[Any, float, set[str]]] = {}

    @hook_impl(trylast=True)  # after kedro-mlflow has started the run (its metric datasets need it)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        self.catalog = catalog if RECORD in catalog else None
        self.progress, self.started, self.unsaved = None, {}, {}
        nodes = pipeline.nodes
        names = [n for n in run_params.get("pipeline_names") or [] if n != "__default__"]
        label = ",".join(names) or "default"
        self.part = {node.name: part_of(node.tags) or label for node in nodes}
        if self.catalog is None:
            return
        self.record = catalog.get(RECORD).load()
        self._read_parameters(nodes)
        for node in nodes:  # the lecture's tags name each node's part, also for nodes that will not run
            if (part := part_of(node.tags)) is not None:
                self.record.nodes.setdefault(node.name, NodeRun()).part = part
        planned = self._resume(nodes) if run_params.get("only_missing_outputs") else [node.name for node in nodes]
        recorded = {name: run.seconds for name, run in self.record.nodes.items()}
        members = parts_of([node.name for node in nodes], self.part)
        self.progress = Progress(planned, self.part, expected_seconds(planned, self.part, recorded, self._reference(), members))
        for line in self.progress.plan_lines(len(nodes)):
            logger.info("%s", line)

    def _read_parameters(self, nodes) -> None:
        self.digests, self.values = {}, {}
        for name in sorted({i for node in nodes for i in node.inputs if is_parameter(i)}):
            value = plain(self.catalog.get(name).load())
            self.digests[name] = digest(value)
            self.values[self.digests[name]] = value

    def _reference(self) -> dict[str, float]:
        if "params:lecture" not in self.catalog:
            return {}
        return dict(plain(self.catalog.get("params:lecture").load()).get("reference_seconds") or {})

    def _ephemeral(self, name: str) -> bool:
        return name not in self.catalog or isinstance(self.catalog.get(name), MemoryDataset)

    def _metric(self, name: str) -> bool:
        return isinstance(self.catalog.get(name), METRICS)

    def _missing_output(self, name: str) -> bool:
        try:
            return not self.catalog.exists(name)
        except Exception:  # a dataset that cannot tell (an MLflow metric outside a run): Kedro makes it
            return True

    def _missing(self, node) -> bool:
        """Whether a node has outputs to make: a missing file, or MLflow metrics only and no recorded run."""
        persistent = [o for o in node.outputs if not self._ephemeral(o)]
        files = [o for o in persistent if not self._metric(o)]
        if files:
            return any(self._missing_output(o) for o in files)
        run = self.record.nodes.get(node.name)
        return bool(persistent) and (run is None or run.finished is None)

    def _resume(self, nodes) -> list[str]:
        """Decide what runs again, tell Kedro's filter through the catalog, log why; the nodes that will run."""
        missing = {node.name: self._missing(node) for node in nodes}
        reasons = out_of_date(nodes, self.record, self.digests, self.values, lambda node: missing[node.name])
        decided = {}
        for node in nodes:
            persistent = [o for o in node.outputs if not self._ephemeral(o)]
            if node.name in reasons:
                decided |= dict.fromkeys(persistent, False)
            elif not missing[node.name]:
                decided |= dict.fromkeys((o for o in persistent if self._metric(o)), True)
        quiet = _ReplacingFilter()
        logging.getLogger("kedro.io.data_catalog").addFilter(quiet)
        try:
            for output, exists in decided.items():
                self.catalog[output] = FixedExistence(self.catalog.get(output), exists=exists)
        finally:
            logging.getLogger("kedro.io.data_catalog").removeFilter(quiet)
        by_part: dict[str, list[str]] = {}
        for name, reason in reasons.items():
            by_part.setdefault(self.part[name], []).append(reason)
        for part, why in by_part.items():
            first = list(dict.fromkeys(why))
            more = f" (and {len(first) - 2} more reasons)" if len(first) > 2 else ""
            logger.info("%s: %d node%s out of date, to run again: %s%s", part, len(why), "s" * (len(why) != 1), "; ".join(first[:2]), more)
        return nodes_to_run(nodes, self._missing_output, self._ephemeral)

    @hook_impl
    def before_node_run(self, node) -> None:
        self.started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node) -> None:
        seconds = time.perf_counter() - self.started.pop(node.name, time.perf_counter())
        if self.progress is not None:
            logger.info("%s", self.progress.finished(node.name, seconds))
        if self.catalog is None:
            return
        self.unsaved[node.name] = (node, seconds, set(node.outputs))
        if not node.outputs:
            self._finished(node.name)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node) -> None:
        if node.name in self.unsaved:
            self.unsaved[node.name][2].discard(dataset_name)
            if not self.unsaved[node.name][2]:
                self._finished(node.name)

    def _finished(self, name: str) -> None:
        """Every output of node ``name`` is saved: record its run."""
        node, seconds, _ = self.unsaved.pop(name)
        previous = self.record.nodes.get(name)
        part = part_of(node.tags) or (previous.part if previous is not None else None)
        params = {i: self.digests[i] for i in node.inputs if i in self.digests}
        run = NodeRun(part=part, seconds=round(seconds, 3), finished=time.time(), params=params, outputs=list(node.outputs))
        self.record.finish(name, run, self.values)
        try:
            self.catalog.get(RECORD).save(self.record)
        except OSError as exc:  # the run goes on; only its record is behind
            logger.warning("could not write the run record: %s", exc)

"""What every node's last run was (its time, when it finished, a digest of its parameters, what it made),
and what a rerun with ``--only-missing-outputs`` must therefore do again.

Kedro's ``--only-missing-outputs`` skips a node whose persistent outputs exist. That alone would reuse
outputs made with other parameters, or from inputs made again since, and would run again every node
that logs MLflow metrics (they are "missing" from each new MLflow run). :func:`out_of_date` says which
nodes must run again, and why; :func:`nodes_to_run` is Kedro's own rule, for the progress lines' plan.
The hook that keeps the record and applies the decisions: :mod:`practical_dl.project.hooks.run_record`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel


class NodeLike(Protocol):
    """What the record reads of a Kedro node."""

    name: str
    inputs: list[str]
    outputs: list[str]


class NodeRun(BaseModel):
    """One node's last finished run."""

    part: str | None = None
    """The lecture part it belongs to (from its ``lecture.<part>`` tag)."""
    seconds: float | None = None
    """How long the node ran (None: it has not run since the record was kept)."""
    finished: float | None = None
    """When its outputs were saved (seconds since the epoch)."""
    params: dict[str, str] = {}
    """Each parameter input (``params:gan``) and the digest of its value."""
    outputs: list[str] = []


class RunRecord(BaseModel):
    """Every node's last run, and the parameter values the recorded digests stand for."""

    nodes: dict[str, NodeRun] = {}
    values: dict[str, Any] = {}

    def finish(self, name: str, run: NodeRun, values: Mapping[str, Any]) -> None:
        """Record ``run`` as node ``name``'s last; ``values`` holds the value behind each digest it names."""
        self.nodes[name] = run
        self.values.update({d: values[d] for d in run.params.values() if d in values})
        used = {d for node in self.nodes.values() for d in node.params.values()}
        self.values = {d: v for d, v in self.values.items() if d in used}

    def part_seconds(self, part: str) -> float | None:
        """The time of a part: its nodes' recorded times added up (None: none recorded)."""
        times = [run.seconds for run in self.nodes.values() if run.part == part and run.seconds is not None]
        return sum(times) if times else None

    def made_at(self, dataset: str) -> float | None:
        """When ``dataset`` was last made by a recorded node (None: no recorded node makes it)."""
        times = [run.finished for run in self.nodes.values() if run.finished is not None and dataset in run.outputs]
        return max(times) if times else None


def is_parameter(name: str) -> bool:
    return name == "parameters" or name.startswith("params:")


def plain(value: Any) -> Any:
    """A parameter value as plain JSON data (a typed block as its fields)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def digest(value: Any) -> str:
    """A short, stable digest of plain JSON data."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def changed_keys(before: Any, after: Any, prefix: str) -> list[str]:
    """The dotted keys under ``prefix`` whose values differ between two plain values."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(set(before) | set(after))
        return [k for key in keys for k in changed_keys(before.get(key), after.get(key), f"{prefix}.{key}")]
    same = before == after or all(isinstance(v, float) and math.isnan(v) for v in (before, after))
    return [] if same else [prefix]


def parameter_name(name: str) -> str:
    return name.removeprefix("params:")


def _changed_parameters(node: NodeLike, run: NodeRun, digests: Mapping[str, str], values: Mapping[str, Any], old: Mapping) -> list[str]:
    keys = []
    for name in (i for i in node.inputs if is_parameter(i)):
        if run.params.get(name) == digests[name]:
            continue
        before = old.get(run.params.get(name, ""))
        keys += changed_keys(before, values[digests[name]], parameter_name(name)) if before is not None else [parameter_name(name)]
    return keys


def out_of_date(
    nodes: Sequence[NodeLike],
    record: RunRecord,
    digests: Mapping[str, str],
    values: Mapping[str, Any],
    missing: Callable[[NodeLike], bool],
) -> dict[str, str]:
    """The nodes (of ``nodes``, in topological order) that have run before and must run again, each with why.

    A node must run again when a parameter it reads has changed since it last ran (``digests``: each
    parameter input's digest now, ``values``: the value behind each digest), when a node it reads
    from runs again (out of date, or ``missing`` outputs), or when an input was made again after it
    last ran. A node with no recorded run is left to Kedro's rule (it runs when an output is missing).
    """
    made_here = {output: node for node in nodes for output in node.outputs}
    again: set[str] = set()
    reasons: dict[str, str] = {}
    for node in nodes:
        run = record.nodes.get(node.name)
        if missing(node):
            again.add(node.name)
            continue
        if run is None or run.finished is None:
            continue
        reason = None
        if changed := _changed_parameters(node, run, digests, values, record.values):
            reason = f"parameters changed: {', '.join(changed)}"
        elif upstream := [i for i in node.inputs if i in made_here and made_here[i].name in again]:
            reason = f"it reads {upstream[0]}, made again in this run"
        elif newer := [i for i in node.inputs if (record.made_at(i) or 0.0) > run.finished]:
            reason = f"it reads {newer[0]}, made again since it ran"
        if reason:
            reasons[node.name] = reason
            again.add(node.name)
    return reasons


def nodes_to_run(nodes: Sequence[NodeLike], missing_output: Callable[[str], bool], ephemeral: Callable[[str], bool]) -> list[str]:
    """The nodes Kedro's ``--only-missing-outputs`` runs, in ``nodes``' (topological) order.

    Kedro's rule (``kedro.runner.AbstractRunner``): a node runs when it has no outputs, when a
    persistent output is missing, or when a node that runs reads one of its outputs that is
    ephemeral or missing.
    """
    readers: dict[str, list[NodeLike]] = {}
    for node in nodes:
        for name in node.inputs:
            readers.setdefault(name, []).append(node)
    running: set[str] = set()
    for node in reversed(nodes):
        persistent = [o for o in node.outputs if not ephemeral(o)]
        needed = any(reader.name in running and (ephemeral(o) or missing_output(o)) for o in node.outputs for reader in readers.get(o, []))
        if not node.outputs or any(missing_output(o) for o in persistent) or needed:
            running.add(node.name)
    return [node.name for node in nodes if node.name in running]


def parts_of(names: Iterable[str], part: Mapping[str, str]) -> dict[str, list[str]]:
    """The nodes ``names`` of each part, the parts in the order they first appear."""
    members: dict[str, list[str]] = {}
    for name in names:
        members.setdefault(part[name], []).append(name)
    return members

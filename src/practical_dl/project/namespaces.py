"""Building blocks shared by pipelines made of many namespaced runs (sweeps, budgets)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline


def member_inputs(block: str) -> list[str]:
    """What a member of a sweep trains on, in the order of the member nodes' arguments (the tricks
    sweeps, the batch x learning-rate grid, the dropout ensemble and the depth x batch-norm runs):
    the splits, the standardisation statistics, the pipeline's own parameter ``block``, the
    training defaults and the augmentation settings."""
    return [
        "train_split",
        "validation_split",
        "test_split",
        "standardisation_stats",
        f"params:{block}",
        "params:training_defaults",
        "params:augmentation",
    ]


def member_pipelines(
    func: Callable, members: Iterable[tuple[str, dict[str, Any]]], inputs: list[str], name: str, outputs: str | list[str] = "result"
) -> Pipeline:
    """One single-node pipeline per ``(namespace, keyword arguments)``: ``func`` with the arguments
    bound, reading the shared (un-namespaced) ``inputs`` and writing ``<namespace>.result`` (or
    each of ``outputs``), so kedro-viz shows each member as a group."""
    datasets = {i for i in inputs if not i.startswith("params:")}
    parameters = {i: i for i in inputs if i.startswith("params:")}
    pipeline = Pipeline([])
    for namespace, kwargs in members:
        bound = update_wrapper(partial(func, **kwargs), func)
        template = Pipeline([Node(bound, inputs=inputs, outputs=outputs, name=name)])
        pipeline += Pipeline(template, namespace=namespace, inputs=datasets, parameters=parameters)
    return pipeline


@contextmanager
def reading_across_namespaces() -> Iterator[None]:
    """Build nodes that read other namespaces' outputs (a report over every member) inside this.

    That is what such nodes are for, so Kedro's warning about dotted dataset names is silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        yield


def name_safe(value: float) -> str:
    """A number as a part of a dataset name (no dots, no signs): 0.01 -> 0p01, 1e-05 -> 1em05, 10 -> 10."""
    return f"{value:g}".replace(".", "p").replace("-", "m").replace("+", "")

"""Building blocks shared by pipelines made of many namespaced runs (sweeps, budgets)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline


def member_pipelines(func: Callable, members: Iterable[tuple[str, dict[str, Any]]], inputs: list[str], name: str) -> Pipeline:
    """One single-node pipeline per ``(namespace, keyword arguments)``: ``func`` with the arguments
    bound, reading the shared (un-namespaced) ``inputs`` and writing ``<namespace>.result``, so
    kedro-viz shows each member as a group."""
    datasets = {i for i in inputs if not i.startswith("params:")}
    parameters = {i: i for i in inputs if i.startswith("params:")}
    pipeline = Pipeline([])
    for namespace, kwargs in members:
        bound = update_wrapper(partial(func, **kwargs), func)
        template = Pipeline([Node(bound, inputs=inputs, outputs="result", name=name)])
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

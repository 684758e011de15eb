"""A module imported when one of its names is first used: what lets a node module name torch's
types in its signatures without importing torch when its pipeline is built."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class OnFirstUse(ModuleType):
    """Stands for the module of its name; the first attribute asked of it imports that module.

    Unlike ``importlib.util.LazyLoader`` (and ``lazy_loader.load``, built on it), nothing is put in
    ``sys.modules`` until the real import, and that import is Python's own, with its locks: Python
    3.11's lazy modules are not safe when two threads use them first (CPython issue 114763), as
    Kedro's ``--async`` loading does.
    """

    def __getattr__(self, name: str) -> Any:  # only for names not yet kept here
        value = getattr(importlib.import_module(self.__name__), name)
        setattr(self, name, value)  # the next use finds it without an import lookup (node bodies call torch in loops)
        return value


def on_first_use(name: str) -> ModuleType:
    """``torch = on_first_use("torch")``: ``torch.Tensor`` imports torch when first evaluated."""
    return OnFirstUse(name)

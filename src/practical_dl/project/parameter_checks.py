"""Checks of parameter blocks, registered by the pipelines that read the blocks.

A pipeline registers the check of its own block (``register_check("gan", ...)`` in its
``nodes.py``); :class:`~practical_dl.project.hooks.parameters.ValidateParametersHook` runs the
checks of every block a run reads before any node runs. So the hook knows no pipeline by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: ``{block: check(parameters)}``; a check raises ``ValueError`` naming the parameter at fault.
CHECKS: dict[str, Callable[[dict[str, Any]], Any]] = {}


def register_check(block: str, check: Callable[[dict[str, Any]], Any]) -> None:
    """Run ``check`` on all the run's parameters whenever a run reads ``params:<block>``."""
    CHECKS[block] = check

"""Hooks of the ``kedro`` command itself: Kedro's CLI hooks, registered by the ``kedro.cli_hooks``
entry point in ``pyproject.toml`` (Kedro calls them around every ``kedro ...`` command)."""

from __future__ import annotations

import gc
from typing import Any

from kedro.framework.cli.hooks import cli_hook_impl


class QuickExit:
    """Lets a ``kedro`` command end without collecting every object it imported.

    Once torch and MLflow are imported, Python's own shutdown spends 1–2 s of a 2-core machine on
    garbage collections over millions of objects that the operating system frees anyway.
    :func:`gc.freeze` moves them where those collections do not look. What a command must do
    before it ends still runs: ``atexit`` handlers (logging's and MLflow's flushes), ``with``
    blocks, objects freed by their reference counts. Only the finalisers of objects caught in
    reference cycles at exit are skipped, which Python never promises to run.
    """

    @cli_hook_impl
    def after_command_run(self, project_metadata: Any, command_args: list[str], exit_code: int | str | None) -> None:
        gc.freeze()


quick_exit = QuickExit()

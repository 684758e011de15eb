"""End the MLflow run as KILLED when a run is interrupted."""

from __future__ import annotations

import atexit
import logging
import signal
import threading
import time
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

logger = logging.getLogger(__name__)

#: tries to record the end of an interrupted run in a SQLite store that is locked, a second apart
STORE_ATTEMPTS = 5


class InterruptHook:
    """Ctrl-C (SIGINT) or SIGTERM during a run: the MLflow run ends as KILLED, tagged with the
    signal, instead of FINISHED (what MLflow's own exit handler would record) or RUNNING for ever.

    SIGTERM (what ``kill``, a container runtime or a pre-empted cloud machine sends) is turned into
    the same ``KeyboardInterrupt`` as Ctrl-C, so the run unwinds instead of vanishing. MLflow
    registers its exit handler when it is imported; this one is registered later and so runs
    first (handlers run last in, first out).
    """

    def __init__(self) -> None:
        self.interrupted_by: str | None = None
        self._registered = False
        self._previous: dict[int, Any] = {}

    def _on_signal(self, signum: int, frame) -> None:
        self.interrupted_by = signal.Signals(signum).name
        raise KeyboardInterrupt(f"interrupted by {self.interrupted_by}")

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        self.interrupted_by = None
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._on_signal)
        if not self._registered:
            atexit.register(self.end_interrupted_runs)
            self._registered = True

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], run_result, pipeline: Pipeline, catalog) -> None:
        self._restore()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        self._restore()

    def _restore(self) -> None:
        while self._previous:
            sig, handler = self._previous.popitem()
            signal.signal(sig, handler)

    def end_interrupted_runs(self) -> None:
        """At exit after an interrupt: end every active MLflow run (children first) as KILLED."""
        import mlflow

        if self.interrupted_by is None:
            return
        while mlflow.active_run() is not None:
            for attempt in range(1, STORE_ATTEMPTS + 1):
                try:
                    mlflow.set_tag("interrupted_by", self.interrupted_by)
                    mlflow.end_run(status="KILLED")
                    break
                except Exception as exc:
                    if "database is locked" in str(exc) and attempt < STORE_ATTEMPTS:
                        time.sleep(1.0)  # a SQLite store another writer holds for a moment
                        continue
                    logger.warning("could not end the MLflow run as KILLED: %s", exc)  # the store is gone
                    return

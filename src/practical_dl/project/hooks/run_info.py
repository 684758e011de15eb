"""Name each run in MLflow after what ran and keep the UI's view of test errors up to date."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

logger = logging.getLogger(__name__)


class RunInfoHook:
    """Records the Kedro run (session id, environment, pipelines) for what a run logs to MLflow, and
    makes the run easy to find in the MLflow UI: named after what ran and when, its experiment tagged
    as model development, the experiment's saved view of each model's test error brought up to date
    at the end (:mod:`practical_dl.project.tracking`), and the UI's address of that view logged."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.ui_address = "http://127.0.0.1:5000"

    @hook_impl(trylast=True)  # after kedro-mlflow has read mlflow.yml (context.mlflow)
    def after_context_created(self, context) -> None:
        from practical_dl.project import tracking

        config = getattr(context, "mlflow", None)
        if config is not None:
            self.ui_address = tracking.ui_address(config)

    @hook_impl(trylast=True)  # after kedro-mlflow's own before_pipeline_run has started the MLflow run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        from practical_dl.project import tracking

        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        tracking.kedro_run.clear()
        tracking.kedro_run.update(
            session_id=str(run_params.get("session_id") or run_params.get("run_id") or ""),
            env=str(run_params.get("env") or "local"),
            pipelines=",".join(names),
        )
        self.run_id = None
        try:
            self.run_id = tracking.name_kedro_run(names, run_params.get("runtime_params"))
        except Exception as exc:  # a name is not worth failing a training run for
            logger.warning("could not name the MLflow run: %s", exc)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], run_result, pipeline: Pipeline, catalog) -> None:
        from practical_dl.project import tracking

        if self.run_id is None:
            return
        try:
            experiment_id = tracking.update_comparison_view(self.run_id)
        except Exception as exc:  # the run itself is done and recorded; only the view is missing
            logger.warning("could not update the MLflow UI's view of the test errors: %s", exc)
            return
        logger.info("MLflow UI (`make mlflow-ui`): %s", tracking.comparison_view_url(self.ui_address, experiment_id))

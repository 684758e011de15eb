"""Under ``torchrun``: only rank 0 writes."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline


class DistributedRunHook:
    """Under ``torchrun`` every process runs the whole ``kedro run``; only rank 0 writes. On the
    other ranks this hook keeps every dataset the run produces in memory (no file, no MLflow
    artefact is written twice), and their log to warnings. (``settings.py`` leaves kedro-mlflow's
    hook out on those ranks: one MLflow run per ``kedro run``.) See :mod:`practical_dl.core.distributed`."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        from kedro.io import MemoryDataset

        from practical_dl.core import distributed

        if distributed.is_main_process():
            return
        for name in ("practical_dl", "kedro"):
            logging.getLogger(name).setLevel(logging.WARNING)
        catalog_logger = logging.getLogger("kedro.io.data_catalog")  # it warns of every dataset replaced
        level = catalog_logger.level
        catalog_logger.setLevel(logging.ERROR)
        try:
            for name in sorted(pipeline.all_outputs()):
                catalog[name] = MemoryDataset(copy_mode="assign")
        finally:
            catalog_logger.setLevel(level)

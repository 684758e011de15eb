"""Check every parameter block a run reads before any node runs."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline


def check_pipeline_parameters(pipeline: Pipeline, parameters: dict[str, Any]) -> None:
    """Validate every parameter block that ``pipeline`` reads; raise ``ValueError`` naming it.

    A block's own check is the one its pipeline registered (:mod:`practical_dl.project.parameter_checks`);
    the shared ``augmentation`` block and every namespace's ``model`` and ``training`` blocks are
    checked here.
    """
    from practical_dl.core.augment import AugmentConfig  # torch, imported only when a run starts
    from practical_dl.project.parameter_checks import CHECKS
    from practical_dl.project.training_setup import augmentation_config, model_from_params, training_config

    wanted = {name.removeprefix("params:") for name in pipeline.inputs() | pipeline.all_inputs() if name.startswith("params:")}
    if "augmentation" in wanted:
        AugmentConfig.from_dict(parameters.get("augmentation"))
    for name in sorted(wanted):
        if name in CHECKS:
            CHECKS[name](parameters)
    for name in sorted(wanted):
        namespace, _, block = name.rpartition(".")
        if not namespace:
            continue
        scope = parameters.get(namespace) or {}
        if block == "model":
            model_from_params(scope.get("model"), f"{namespace}.model")
        elif block == "training":
            config = training_config(parameters.get("training_defaults"), scope.get("training"), where=f"{namespace}.training")
            augmentation_config(config, parameters.get("augmentation"), where=f"{namespace}.training")


class ValidateParametersHook:
    """Fail fast, naming the parameter, before any node has run."""

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run that a failed check would leave open
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        check_pipeline_parameters(pipeline, catalog.load("parameters"))

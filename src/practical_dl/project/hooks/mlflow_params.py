"""kedro-mlflow's hook, logging typed parameter blocks as the flat keys of their YAML."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro_mlflow.framework.hooks import MlflowHook
from pydantic import BaseModel


def as_logged(value: Any) -> Any:
    """A typed block as the plain mapping it was configured with (the keys it set), else ``value``."""
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True, by_alias=True)
    return value


class TypedParamsMlflowHook(MlflowHook):
    """kedro-mlflow's hook: a ``params:`` input validated into a Pydantic model by Kedro reaches MLflow
    as the dict kedro-mlflow flattens (``training.lr``, ...), as an untyped block would."""

    @hook_impl
    def before_node_run(self, node, catalog, inputs: dict[str, Any], is_async: bool) -> None:
        super().before_node_run(node=node, catalog=catalog, inputs={k: as_logged(v) for k, v in inputs.items()}, is_async=is_async)

"""The ``batch_lr`` pipeline: every (batch size, learning rate) pair of ``parameters_batch_lr.yml``
is one training run with the same budget of images seen — a namespaced training sub-pipeline
(``batch_lr.<batch>.<lr>``, nested groups in kedro-viz) and a child MLflow run — then a report
with the heat map of test error."""

from collections.abc import Mapping
from typing import Any

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.batch_lr.nodes import BatchLrParameters, grid_members, member_settings, report_batch_lr, train_grid_member
from practical_dl.project.context import pipeline_parameters
from practical_dl.project.namespaces import member_inputs, member_pipelines, reading_across_namespaces
from practical_dl.project.parameters import TrainingSettings


def _grid(params: Mapping[str, Any]) -> dict[tuple[str, str], tuple[int, float]]:
    """The grid's pairs; the block validated (its model by ``ModelSpec``) and every pair's settings
    merged over ``training_defaults``, so a bad grid fails before any pair trains (Kedro does not see
    the values bound into the members). No network is built."""
    batch_lr = BatchLrParameters.from_dict(params.get("batch_lr") or {}, "batch_lr")
    defaults = TrainingSettings.from_dict(params.get("training_defaults") or {}, "training_defaults")
    members = grid_members(batch_lr)
    for batch_size, lr in members.values():
        member_settings(batch_lr, defaults, batch_size, lr)
    return members


def create_pipeline(parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> Pipeline:
    members = _grid(pipeline_parameters(parameters))
    runs = member_pipelines(
        train_grid_member,
        [(f"batch_lr.{batch}.{lr}", {"batch_size": b, "lr": r}) for (batch, lr), (b, r) in members.items()],
        member_inputs("batch_lr"),
        "train_grid_member",
    )
    results = [f"batch_lr.{batch}.{lr}.result" for batch, lr in members]
    with reading_across_namespaces():
        report = Pipeline(
            [
                Node(
                    report_batch_lr,
                    inputs=["params:batch_lr", *results],
                    outputs={"table": "batch_lr_errors", "report": "batch_lr_report", "plot": "batch_lr_plot"},
                    name="report_batch_lr",
                )
            ]
        )
    return runs + report

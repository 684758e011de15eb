"""The ``tricks`` pipeline: every member of every sweep in ``parameters_tricks.yml`` is a
namespaced instance of one training sub-pipeline (``tricks.<sweep>.<member>``, nested groups in
kedro-viz) and a child MLflow run; a report compares them. A regression example closes it."""

from collections.abc import Mapping
from typing import Any

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.tricks.nodes import (
    TricksParameters,
    member_spec,
    report_sweeps,
    sweep_members,
    train_rotation_regression,
    train_sweep_member,
)
from practical_dl.project.context import pipeline_parameters
from practical_dl.project.namespaces import member_inputs, member_pipelines, reading_across_namespaces
from practical_dl.project.parameters import TrainingSettings


def _sweeps(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """The sweeps and their members; every member's network and settings resolved through their
    layers (``ModelSpec`` checks the architecture and its options), so a bad member fails before any
    member trains (Kedro validates the block, not its merged layers). No network is built."""
    tricks = TricksParameters.from_dict(params.get("tricks") or {}, "tricks")
    defaults = TrainingSettings.from_dict(params.get("training_defaults") or {}, "training_defaults")
    sweeps = sweep_members(tricks)
    for sweep, members in sweeps.items():
        for member in members:
            member_spec(tricks, defaults, sweep, member)
    return sweeps


def create_pipeline(parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> Pipeline:
    sweeps = _sweeps(pipeline_parameters(parameters))
    pairs = [(sweep, member) for sweep, names in sweeps.items() for member in names]
    members = member_pipelines(
        train_sweep_member,
        [(f"tricks.{s}.{m}", {"sweep": s, "member": m}) for s, m in pairs],
        member_inputs("tricks"),
        "train_sweep_member",
    )
    results = [f"tricks.{s}.{m}.result" for s, m in pairs]
    outputs = {"summary": "tricks_summary", "report": "tricks_report"} | {sweep: f"tricks_{sweep}_plot" for sweep in sweeps}
    regression = Pipeline(
        [
            Node(
                train_rotation_regression,
                inputs=[
                    "train_split",
                    "validation_split",
                    "standardisation_stats",
                    "params:rotation_regression",
                    "params:training_defaults",
                ],
                outputs=["rotation_regression_metrics", "rotation_regression_mlflow", "rotation_regression_plot"],
                name="train_rotation_regression",
            )
        ]
    )
    with reading_across_namespaces():
        report = Pipeline([Node(report_sweeps, inputs=["params:tricks", *results], outputs=outputs, name="report_sweeps")])
    return members + report + regression

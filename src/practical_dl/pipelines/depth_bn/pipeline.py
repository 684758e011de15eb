"""The ``depth_bn`` pipeline: the VGG-style ``deep_convnet`` at every depth of
``parameters_depth_bn.yml``, without and with batch norm, at the base learning rate and at each
multiple of it — each a namespaced training sub-pipeline (``depth_bn.<depth>.<norm>.<lr>``) and
a child MLflow run that also records per-layer gradient norms — then a report."""

from collections.abc import Mapping
from typing import Any

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.depth_bn.nodes import DepthBnParameters, depth_members, member_spec, report_depth_bn, train_depth_member
from practical_dl.project.context import pipeline_parameters
from practical_dl.project.namespaces import member_inputs, member_pipelines, reading_across_namespaces
from practical_dl.project.parameters import TrainingSettings


def _members(params: Mapping[str, Any]) -> dict[str, dict]:
    """The runs; the block validated and every run's network and settings resolved (``ModelSpec``
    checks the options), so a bad block fails before any run trains (Kedro does not see the values
    bound into the runs). No network is built."""
    depth_bn = DepthBnParameters.from_dict(params.get("depth_bn") or {}, "depth_bn")
    defaults = TrainingSettings.from_dict(params.get("training_defaults") or {}, "training_defaults")
    members = depth_members(depth_bn)
    for settings in members.values():
        member_spec(depth_bn, defaults, **settings)
    return members


def create_pipeline(parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> Pipeline:
    members = _members(pipeline_parameters(parameters))
    runs = member_pipelines(
        train_depth_member,
        [(f"depth_bn.{name}", settings) for name, settings in members.items()],
        member_inputs("depth_bn"),
        "train_depth_member",
    )
    with reading_across_namespaces():
        report = Pipeline(
            [
                Node(
                    report_depth_bn,
                    inputs=["params:depth_bn", *(f"depth_bn.{name}.result" for name in members)],
                    outputs={"table": "depth_bn_summary", "report": "depth_bn_report", "plot": "depth_bn_plot"},
                    name="report_depth_bn",
                )
            ]
        )
    return runs + report

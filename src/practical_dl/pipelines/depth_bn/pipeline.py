"""The ``depth_bn`` pipeline: the VGG-style ``deep_convnet`` at every depth of
``parameters_depth_bn.yml``, without and with batch norm, at the base learning rate and at each
multiple of it — each a namespaced training sub-pipeline (``depth_bn.<depth>.<norm>.<lr>``) and
a child MLflow run that also records per-layer gradient norms — then a report."""

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.depth_bn.nodes import depth_members, report_depth_bn, train_depth_member
from practical_dl.project.context import load_project_parameters
from practical_dl.project.namespaces import member_inputs, member_pipelines, reading_across_namespaces


def create_pipeline(**kwargs) -> Pipeline:
    members = depth_members(load_project_parameters().get("depth_bn") or {})
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

"""The ``depth_bn`` pipeline: the VGG-style ``deep_convnet`` at every depth of
``parameters_depth_bn.yml``, without and with batch norm, at the base learning rate and at each
multiple of it — each a namespaced training sub-pipeline (``depth_bn.<depth>.<norm>.<lr>``) and
a child MLflow run that also records per-layer gradient norms — then a report."""

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.depth_bn.nodes import DepthBnParameters, depth_members, member_spec, report_depth_bn, train_depth_member
from practical_dl.project.context import load_project_parameters
from practical_dl.project.namespaces import member_inputs, member_pipelines, reading_across_namespaces
from practical_dl.project.parameters import TrainingSettings
from practical_dl.project.training_setup import model_from_params


def _members(params: dict) -> dict[str, dict]:
    """The runs; the block validated, every run's settings resolved and the deepest network built, so a
    bad block fails before any run trains (Kedro does not see the values bound into the runs)."""
    depth_bn = DepthBnParameters.from_dict(params.get("depth_bn") or {}, "depth_bn")
    defaults = TrainingSettings.from_dict(params.get("training_defaults") or {}, "training_defaults")
    members = depth_members(depth_bn)
    for settings in members.values():
        member_spec(depth_bn, defaults, **settings)
    model, _ = member_spec(depth_bn, defaults, depth_bn.depths[-1], True, depth_bn.lr_factors[0])
    model_from_params(model, "depth_bn")
    return members


def create_pipeline(**kwargs) -> Pipeline:
    members = _members(load_project_parameters())
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

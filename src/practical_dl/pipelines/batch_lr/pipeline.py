"""The ``batch_lr`` pipeline: every (batch size, learning rate) pair of ``parameters_batch_lr.yml``
is one training run with the same budget of images seen — a namespaced instance of the sweeps'
member trainer (``practical_dl.project.sweeps``) (``batch_lr.<batch>.<lr>``, nested groups in kedro-viz) and a child MLflow
run — then a report with the heat map of test error."""

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.batch_lr.nodes import grid_members, report_batch_lr, train_grid_member
from practical_dl.project.context import load_project_parameters
from practical_dl.project.namespaces import member_inputs, member_pipelines, reading_across_namespaces


def create_pipeline(**kwargs) -> Pipeline:
    members = grid_members(load_project_parameters().get("batch_lr") or {})
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

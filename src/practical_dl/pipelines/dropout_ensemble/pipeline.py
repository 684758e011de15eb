"""The ``dropout_ensemble`` pipeline: ``members`` SimpLeNets without dropout (each its own seed)
and one with dropout, each a namespaced training sub-pipeline (``dropout_ensemble.<member>``)
and a child MLflow run that keeps its test-set probabilities; then a report that compares the
dropout network (and its Monte-Carlo average) with ensembles of k plain networks."""

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.dropout_ensemble.nodes import ensemble_members, report_dropout_ensemble, train_ensemble_member
from practical_dl.project.context import load_project_parameters
from practical_dl.project.namespaces import member_inputs, member_pipelines, reading_across_namespaces


def create_pipeline(**kwargs) -> Pipeline:
    members = ensemble_members(load_project_parameters().get("dropout_ensemble") or {})
    runs = member_pipelines(
        train_ensemble_member,
        [(f"dropout_ensemble.{m}", {"member": m}) for m in members],
        member_inputs("dropout_ensemble"),
        "train_ensemble_member",
        outputs=["result", "probabilities"],
    )
    with reading_across_namespaces():
        report = Pipeline(
            [
                Node(
                    report_dropout_ensemble,
                    inputs=[
                        "params:dropout_ensemble",
                        "test_split",
                        *(f"dropout_ensemble.{m}.{kind}" for m in members for kind in ("result", "probabilities")),
                    ],
                    outputs={
                        "table": "dropout_ensemble_table",
                        "report": "dropout_ensemble_report",
                        "plot": "dropout_ensemble_plot",
                        "metrics": "dropout_ensemble_metrics",
                    },
                    name="report_dropout_ensemble",
                )
            ]
        )
    return runs + report

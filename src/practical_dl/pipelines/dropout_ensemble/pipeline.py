"""The ``dropout_ensemble`` pipeline: ``members`` SimpLeNets without dropout (each its own seed)
and one with dropout, each a namespaced training sub-pipeline (``dropout_ensemble.<member>``)
and a child MLflow run that keeps its test-set probabilities; then a report that compares the
dropout network (and its Monte-Carlo average) with ensembles of k plain networks."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from practical_dl.pipeline_helpers import reading_across_namespaces
from practical_dl.project_config import load_project_parameters

from .nodes import ensemble_members, report_dropout_ensemble, train_ensemble_member

MEMBER_INPUTS = [
    "train_split",
    "validation_split",
    "test_split",
    "standardisation_stats",
    "params:dropout_ensemble",
    "params:training_defaults",
    "params:augmentation",
]


def create_pipeline(**kwargs) -> Pipeline:
    members = ensemble_members(load_project_parameters().get("dropout_ensemble") or {})
    datasets = {i for i in MEMBER_INPUTS if not i.startswith("params:")}
    parameters = {i: i for i in MEMBER_INPUTS if i.startswith("params:")}
    runs = Pipeline([])
    for member in members:
        bound = update_wrapper(partial(train_ensemble_member, member=member), train_ensemble_member)
        node = Node(bound, inputs=MEMBER_INPUTS, outputs=["result", "probabilities"], name="train_ensemble_member")
        runs += Pipeline([node], namespace=f"dropout_ensemble.{member}", inputs=datasets, parameters=parameters)
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
                    outputs={"table": "dropout_ensemble_table", "report": "dropout_ensemble_report", "plot": "dropout_ensemble_plot", "metrics": "dropout_ensemble_metrics"},
                    name="report_dropout_ensemble",
                )
            ]
        )
    return runs + report

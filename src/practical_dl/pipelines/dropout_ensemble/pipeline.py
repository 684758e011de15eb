"""The ``dropout_ensemble`` pipeline: ``members`` SimpLeNets without dropout and ``dropout_members``
with dropout (each its own seed), each a namespaced training sub-pipeline
(``dropout_ensemble.<member>``) and a child MLflow run that keeps its test-set probabilities; then
a report that compares the dropout networks (and their Monte-Carlo averages) with ensembles of k
plain networks, every score as mean ± standard deviation and the verdicts computed from them."""

from collections.abc import Mapping
from typing import Any

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.dropout_ensemble.nodes import (
    DropoutEnsembleParameters,
    ensemble_members,
    member_spec,
    report_dropout_ensemble,
    train_ensemble_member,
)
from practical_dl.project.context import pipeline_parameters
from practical_dl.project.namespaces import member_inputs, member_pipelines, reading_across_namespaces
from practical_dl.project.parameters import TrainingSettings


def _members(params: Mapping[str, Any]) -> list[str]:
    """The members; the block validated and every member's network and settings resolved
    (``ModelSpec`` checks the options), so a bad block fails before any member trains (Kedro does
    not see the values bound into the members). No network is built."""
    dropout_ensemble = DropoutEnsembleParameters.from_dict(params.get("dropout_ensemble") or {}, "dropout_ensemble")
    defaults = TrainingSettings.from_dict(params.get("training_defaults") or {}, "training_defaults")
    members = ensemble_members(dropout_ensemble)
    for member in members:
        member_spec(dropout_ensemble, defaults, member)
    return members


def create_pipeline(parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> Pipeline:
    members = _members(pipeline_parameters(parameters))
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

"""The ``tricks`` pipeline: every member of every sweep in ``parameters_tricks.yml`` is a
namespaced instance of one training sub-pipeline (``tricks.<sweep>.<member>``, nested groups in
kedro-viz) and a child MLflow run; a report compares them. A regression example closes it."""

import warnings
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from practical_dl.project_config import load_project_parameters

from .nodes import report_sweeps, train_rotation_regression, train_sweep_member
from .sweeps import sweep_members

SHARED_INPUTS = {"train_split", "validation_split", "test_split", "standardisation_stats"}
SHARED_PARAMETERS = {p: p for p in ("params:tricks", "params:training_defaults", "params:augmentation")}


def member_template(sweep: str, member: str) -> Pipeline:
    func = update_wrapper(partial(train_sweep_member, sweep=sweep, member=member), train_sweep_member)
    return Pipeline(
        [
            Node(
                func,
                inputs=[
                    "train_split",
                    "validation_split",
                    "test_split",
                    "standardisation_stats",
                    "params:tricks",
                    "params:training_defaults",
                    "params:augmentation",
                ],
                outputs="result",
                name="train_sweep_member",
            )
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    sweeps = sweep_members(load_project_parameters().get("tricks") or {})
    members = Pipeline([])
    for sweep, names in sweeps.items():
        for member in names:
            members += Pipeline(
                member_template(sweep, member), namespace=f"tricks.{sweep}.{member}", inputs=SHARED_INPUTS, parameters=SHARED_PARAMETERS
            )
    results = [f"tricks.{sweep}.{member}.result" for sweep, names in sweeps.items() for member in names]
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
    # the report reads every member's namespaced result: silence Kedro's warning about dots
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        report = Pipeline([Node(report_sweeps, inputs=["params:tricks", *results], outputs=outputs, name="report_sweeps")])
    return members + report + regression

"""The ``transfer_learning`` pipeline: each strategy x labelled-data budget x seed is a namespaced
instance of one sub-pipeline (``transfer.<strategy>.<budget>.s<seed>``) and a child MLflow run;
the ``repeat_budgets`` run on every one of the ``seeds``, the other budgets on the first.

The source model's pre-training is a versioned catalog entry: ``kedro run --pipelines
transfer_learning --only-missing-outputs`` reuses it instead of training it again."""

from collections.abc import Mapping
from typing import Any

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.transfer_learning.nodes import (
    TransferLearningParameters,
    images_from_folders,
    make_source_task,
    make_transfer_tasks,
    pretrain_source_model,
    report_transfer,
    train_transfer_run,
)
from practical_dl.project.context import pipeline_parameters
from practical_dl.project.namespaces import member_pipelines, reading_across_namespaces

RUN_INPUTS = [
    "transfer_target_train",
    "transfer_target_test",
    "transfer_source_weights",
    "params:transfer_learning",
    "params:training_defaults",
]


def budget_name(budget) -> str:
    return "all" if budget == "all" else f"n{budget}"


def run_namespace(strategy: str, budget, seed: int) -> str:
    """``transfer.fine_tune.n10.s3``: one strategy on one budget with one seed."""
    return f"transfer.{strategy}.{budget_name(budget)}.s{seed}"


def create_pipeline(parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> Pipeline:
    # the strategies and budgets shape the pipeline (bound into each run's node): validated here
    params = TransferLearningParameters.from_dict(pipeline_parameters(parameters).get("transfer_learning") or {}, "transfer_learning")
    runs = [(s, b, seed) for s in params.strategies for b in params.budgets for seed in params.seeds_of(b)]
    members = member_pipelines(
        train_transfer_run,
        [(run_namespace(s, b, seed), {"strategy": s, "budget": b, "seed": seed}) for s, b, seed in runs],
        RUN_INPUTS,
        "train_transfer_run",
    )
    if params.target.source == "folders":
        # the target task from two PartitionedDatasets of images (catalog: transfer_target_{train,test}_images)
        tasks = [
            Node(
                make_source_task,
                inputs=["train_split", "params:transfer_learning"],
                outputs="transfer_source_train",
                name="make_source_task",
            ),
            Node(
                images_from_folders,
                inputs=["transfer_target_train_images", "params:transfer_learning"],
                outputs="transfer_target_train",
                name="target_train_from_folders",
            ),
            Node(
                images_from_folders,
                inputs=["transfer_target_test_images", "params:transfer_learning"],
                outputs="transfer_target_test",
                name="target_test_from_folders",
            ),
        ]
    else:
        tasks = [
            Node(
                make_transfer_tasks,
                inputs=["train_split", "test_split", "params:transfer_learning"],
                outputs=["transfer_source_train", "transfer_target_train", "transfer_target_test"],
                name="make_transfer_tasks",
            )
        ]
    prepare = Pipeline(
        [
            *tasks,
            Node(
                pretrain_source_model,
                inputs=["transfer_source_train", "params:transfer_learning", "params:training_defaults"],
                outputs="transfer_source_weights",
                name="pretrain_source_model",
            ),
        ]
    )
    with reading_across_namespaces():
        report = Pipeline(
            [
                Node(
                    report_transfer,
                    inputs=[f"{run_namespace(s, b, seed)}.result" for s, b, seed in runs],
                    outputs={
                        "table": "transfer_results",
                        "summary": "transfer_summary",
                        "report": "transfer_report",
                        "plot": "transfer_learning_plot",
                        "metrics": "transfer_metrics",
                    },
                    name="report_transfer",
                )
            ]
        )
    return prepare + members + report

"""The sub-pipelines that train, evaluate and register one classifier, and the list of models to train."""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from practical_dl.project.model_nodes import evaluate_model, register_model, train_model

TRAINING_INPUTS = {"train_split", "validation_split", "standardisation_stats"}


def model_training_template(model: str) -> Pipeline:
    """The sub-pipeline that trains one model (datasets are namespaced by the caller)."""
    return Pipeline(
        [
            Node(
                update_wrapper(partial(train_model, model=model), train_model),
                inputs=[
                    "train_split",
                    "validation_split",
                    "standardisation_stats",
                    "params:model",
                    "params:training",
                    "params:training_defaults",
                    "params:augmentation",
                ],
                outputs=["classifier", "training_history"],
                name="train_model",
            )
        ]
    )


def model_evaluation_template(model: str) -> Pipeline:
    """Test metrics and plots of one trained classifier, then its registration in MLflow."""
    return Pipeline(
        [
            Node(
                evaluate_model,
                inputs=["classifier", "training_history", "test_split", "params:model", "params:evaluation"],
                outputs=[
                    "test_metrics",
                    "test_metrics_mlflow",
                    "test_predictions",
                    "per_class_scores",
                    "confusion_matrix_plot",
                    "misclassified_plot",
                ],
                name="evaluate_model",
            ),
            Node(
                update_wrapper(partial(register_model, model=model), register_model),
                inputs=["classifier", "test_metrics", "test_split", "params:registry"],
                outputs="registered_model",
                name="register_model",
            ),
        ]
    )

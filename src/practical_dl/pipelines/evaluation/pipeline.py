"""The ``evaluation`` pipeline: one namespaced evaluation per trained model, then the summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.evaluation.nodes import plot_training_curves, summarise_results, visualise_learned_kernels
from practical_dl.project.context import pipeline_parameters
from practical_dl.project.model_pipelines import model_evaluation_template
from practical_dl.project.namespaces import reading_across_namespaces
from practical_dl.project.parameters import EvaluationParameters, trained_model_names

SHARED_INPUTS = {"test_split"}


def create_pipeline(parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> Pipeline:
    parameters = pipeline_parameters(parameters)
    models = trained_model_names(parameters)
    per_model = sum(
        (
            Pipeline(
                model_evaluation_template(name),
                namespace=name,
                inputs=SHARED_INPUTS,
                parameters={"params:evaluation": "params:evaluation", "params:registry": "params:registry"},
            )
            for name in models
        ),
        Pipeline([]),
    )
    kernels_model = EvaluationParameters.from_dict(parameters.get("evaluation") or {}, "evaluation").kernels_model
    # the summary nodes read every model's namespaced outputs (fc64.test_metrics, ...)
    with reading_across_namespaces():
        return per_model + Pipeline(_summary_nodes(models, kernels_model))


def _summary_nodes(models: list[str], kernels_model: str) -> list[Node]:
    nodes = [
        Node(
            summarise_results,
            inputs=[f"{m}.test_metrics" for m in models],
            outputs=["results_table", "results_markdown"],
            name="summarise_results",
        ),
        Node(
            plot_training_curves,
            inputs=[f"{m}.training_history" for m in models],
            outputs="training_curves_plot",
            name="plot_training_curves",
        ),
    ]
    if kernels_model in models:
        nodes.append(
            Node(
                visualise_learned_kernels,
                inputs=[f"{kernels_model}.classifier", "test_split", "params:evaluation"],
                outputs=["learned_kernels_plot", "feature_maps_plot"],
                name="visualise_learned_kernels",
            )
        )
    return nodes

"""The ``gan`` pipeline: train a DCGAN on the training split, scored after every epoch with the
project's own classifier (``gan.classifier``, trained by the ``training`` pipeline), then
explore what it learnt: samples, latent interpolations and latent vector arithmetic; its claims
(``gan_report``) come from the final scores."""

from collections.abc import Mapping
from typing import Any

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.gan.nodes import GanParameters, explore_generator, report_gan, train_gan
from practical_dl.project.context import pipeline_parameters
from practical_dl.project.namespaces import reading_across_namespaces


def create_pipeline(parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> Pipeline:
    classifier = GanParameters.from_dict(pipeline_parameters(parameters).get("gan") or {}, "gan").classifier
    scoring = [f"{classifier}.classifier", "params:gan"]
    with reading_across_namespaces():
        return Pipeline(
            [
                Node(
                    train_gan,
                    inputs=["train_split", "test_split", *scoring],
                    outputs={
                        "generator": "dcgan_generator.weights",
                        "discriminator": "dcgan_discriminator.weights",
                        "history": "gan_history",
                        "progress_plot": "gan_progress_plot",
                        "training_plot": "gan_training_plot",
                    },
                    name="train_gan",
                ),
                Node(
                    explore_generator,
                    inputs=["dcgan_generator.weights", "test_split", "validation_split", *scoring],
                    outputs={
                        "scores": "gan_scores",
                        "scores_mlflow": "gan_scores_mlflow",
                        "samples_plot": "gan_samples_plot",
                        "interpolation_plot": "gan_interpolation_plot",
                        "arithmetic_plot": "gan_arithmetic_plot",
                    },
                    name="explore_generator",
                ),
                Node(report_gan, inputs=["gan_scores", "params:gan"], outputs="gan_report", name="report_gan"),
            ]
        )

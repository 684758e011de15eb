"""The ``standardisation`` pipeline."""

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.standardisation.nodes import compute_standardisation_statistics


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                compute_standardisation_statistics,
                inputs="train_split",
                outputs="standardisation_stats",
                name="compute_standardisation_statistics",
            )
        ]
    )

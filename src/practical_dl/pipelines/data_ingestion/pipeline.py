"""The ``data_ingestion`` pipeline."""

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.data_ingestion.nodes import prepare_test_split, split_train_validation


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                split_train_validation,
                inputs=["raw_train_images", "raw_train_labels", "params:data_ingestion"],
                outputs=["train_split", "validation_split"],
                name="split_train_validation",
            ),
            Node(
                prepare_test_split,
                inputs=["raw_test_images", "raw_test_labels", "params:data_ingestion"],
                outputs="test_split",
                name="prepare_test_split",
            ),
        ]
    )

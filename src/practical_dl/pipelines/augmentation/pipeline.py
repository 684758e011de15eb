"""The ``augmentation`` pipeline. The transforms themselves run inside training, batch-wise on
the training device (``practical_dl.core.augment``); this pipeline shows what they do."""

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.augmentation.nodes import preview_augmentation


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                preview_augmentation,
                inputs=["train_split", "params:augmentation"],
                outputs="augmentation_preview_plot",
                name="preview_augmentation",
            )
        ]
    )

"""The ``predict`` pipeline: the trained classifiers on a folder of a person's own images
(``data/01_raw/my_digits``), each prepared the way MNIST was made (``practical_dl.serving.preprocess``).

The models are ``predict.models``, or by default every model of ``trained_models`` that has
been trained (whose ``<model>.classifier`` file exists when the pipeline is built).
"""

from collections.abc import Mapping
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline

from practical_dl.core.params import ParameterError
from practical_dl.pipelines.predict.nodes import PredictParameters, predict_digits
from practical_dl.project.context import existing_datasets, pipeline_parameters
from practical_dl.project.namespaces import reading_across_namespaces
from practical_dl.project.parameters import trained_model_names


def predicted_models(parameters: Mapping[str, Any]) -> list[str]:
    """``predict.models``, or every trained model that has a classifier to load.

    The ``predict`` block is validated here: its models shape the pipeline's inputs, which Kedro's
    check of typed parameters does not see. "Trained" is a stat of each classifier's file in the
    catalog (:func:`~practical_dl.project.context.existing_datasets`), never a load.
    """
    chosen = PredictParameters.from_dict(parameters.get("predict") or {}, "predict").models
    trained = trained_model_names(parameters)
    if chosen:
        unknown = [m for m in chosen if m not in trained]
        if unknown:
            raise ParameterError(f"invalid parameter predict.models: {unknown} are not in trained_models {trained}")
        return list(chosen)
    existing = [name.removesuffix(".classifier") for name in existing_datasets([f"{m}.classifier" for m in trained])]
    return existing or trained  # nothing trained yet: the run says which pipeline to run first


def create_pipeline(parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> Pipeline:
    models = predicted_models(pipeline_parameters(parameters))
    with reading_across_namespaces():  # the node reads every model's namespaced classifier
        node = Node(
            update_wrapper(partial(predict_digits, models=models), predict_digits),
            inputs=["my_digits", "params:predict", "params:trained_models", *(f"{m}.classifier" for m in models)],
            outputs=["my_digits_predictions", "my_digits_contact_sheet"],
            name="predict_digits",
        )
        return Pipeline([node])

"""The ``training`` pipeline: one namespaced instance of the training sub-pipeline per model.

The models are the ``trained_models`` list of ``conf/base/parameters_training.yml``; each name is
a namespace with its own ``model`` and ``training`` parameter blocks, so kedro-viz shows each
model as a collapsible group and a model is added by configuration alone.
"""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from practical_dl.project_config import load_project_parameters

from .nodes import train_model

SHARED_INPUTS = {"train_split", "validation_split", "standardisation_stats"}


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


def trained_model_names(parameters: dict | None = None) -> list[str]:
    """Namespaces of the models to train, from the parameters."""
    parameters = parameters if parameters is not None else load_project_parameters()
    names = parameters.get("trained_models") or []
    missing = [n for n in names if n not in parameters]
    if missing:
        raise ValueError(f"parameter trained_models lists {missing}, which have no parameter block of their own")
    return list(names)


def create_pipeline(**kwargs) -> Pipeline:
    models = kwargs.get("models") or trained_model_names()
    return sum(
        (
            Pipeline(
                model_training_template(name),
                namespace=name,
                inputs=SHARED_INPUTS,
                parameters={"params:training_defaults": "params:training_defaults", "params:augmentation": "params:augmentation"},
            )
            for name in models
        ),
        Pipeline([]),
    )

"""The ``training`` pipeline: one namespaced instance of the training sub-pipeline per model.

The sub-pipeline and its node are shared with the ``adversarial`` pipeline's robust models:
:func:`practical_dl.project.model_pipelines.model_training_template` and
:func:`practical_dl.project.model_nodes.train_model`.

The models are the ``trained_models`` list of ``conf/base/parameters_training.yml``; each name is
a namespace with its own ``model`` and ``training`` parameter blocks, so kedro-viz shows each
model as a collapsible group and a model is added by configuration alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kedro.pipeline import Pipeline

from practical_dl.project.context import pipeline_parameters
from practical_dl.project.model_pipelines import TRAINING_INPUTS, model_training_template
from practical_dl.project.parameters import trained_model_names


def create_pipeline(parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> Pipeline:
    models = trained_model_names(pipeline_parameters(parameters))
    return sum(
        (
            Pipeline(
                model_training_template(name),
                namespace=name,
                inputs=TRAINING_INPUTS,
                parameters={"params:training_defaults": "params:training_defaults", "params:augmentation": "params:augmentation"},
            )
            for name in models
        ),
        Pipeline([]),
    )

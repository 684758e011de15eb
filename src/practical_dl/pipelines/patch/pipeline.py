"""The ``patch`` pipeline: a targeted adversarial patch of every size in ``patch.sizes`` against
every classifier the ``training`` and ``adversarial`` pipelines produced (a group
``patch.<model>`` each in kedro-viz), then a report that says whether the issue's bar and the
lecture's claims hold."""

from collections.abc import Mapping
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline

from practical_dl.methods.attack_settings import AdversarialParameters
from practical_dl.pipelines.patch.nodes import PatchParameters, attack_with_patches, patched_models, report_patches
from practical_dl.project.context import pipeline_parameters
from practical_dl.project.namespaces import reading_across_namespaces
from practical_dl.project.parameters import trained_model_names


def _patch_template(model: str) -> Pipeline:
    node = Node(
        update_wrapper(partial(attack_with_patches, model=model), attack_with_patches),
        inputs=["classifier", "train_split", "test_split", "params:patch"],
        outputs=["result", "examples_plot", "patches_plot"],
        name="attack_with_patches",
    )
    return Pipeline(
        [node],
        namespace=f"patch.{model}",
        inputs={"classifier": f"{model}.classifier", "train_split": "train_split", "test_split": "test_split"},
        parameters={"params:patch": "params:patch"},
    )


def create_pipeline(parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> Pipeline:
    parameters = pipeline_parameters(parameters)
    patch = PatchParameters.from_dict(parameters.get("patch") or {}, "patch")
    adversarial = AdversarialParameters.from_dict(parameters.get("adversarial") or {}, "adversarial")  # read for its robust models
    models = patched_models(patch, trained_model_names(parameters), adversarial)
    with reading_across_namespaces():
        attacks = sum((_patch_template(m) for m in models), Pipeline([]))
        report = Pipeline(
            [
                Node(
                    report_patches,
                    inputs=["params:patch", "params:adversarial", *(f"patch.{m}.result" for m in models)],
                    outputs={
                        "table": "patch_success",
                        "markdown": "patch_report",
                        "plot": "patch_success_plot",
                        "metrics": "patch_metrics",
                    },
                    name="report_patches",
                )
            ]
        )
    return attacks + report

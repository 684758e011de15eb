"""The ``adversarial`` pipeline: FGSM and PGD against every classifier the ``training`` pipeline
produced (a group ``adversarial.<model>`` each in kedro-viz), plus the robust models it trains
itself with adversarial examples mixed into training (``robust_models``: trained and evaluated
by the same sub-pipelines as every other model), then AutoAttack's core against each
(``adversarial.autoattack``; null: not run), then a report that compares them all."""

from collections.abc import Mapping
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline

from practical_dl.methods.attack_settings import AdversarialParameters
from practical_dl.pipelines.adversarial.nodes import attack_model, attacked_models, autoattack_model, report_attacks
from practical_dl.project.context import pipeline_parameters
from practical_dl.project.model_pipelines import model_evaluation_template, model_training_template
from practical_dl.project.namespaces import reading_across_namespaces
from practical_dl.project.parameters import trained_model_names


def _attack_template(model: str, autoattack: bool, transfer_source: str | None = None) -> Pipeline:
    nodes = [
        Node(
            update_wrapper(partial(attack_model, model=model), attack_model),
            inputs=["classifier", "test_split", "params:training", "params:training_defaults", "params:adversarial"],
            outputs=["result", "examples_plot"],
            name="attack_model",
        )
    ]
    if autoattack:
        nodes.append(
            Node(
                update_wrapper(partial(autoattack_model, model=model), autoattack_model),
                inputs=["classifier", "test_split", "params:adversarial", *(["source"] if transfer_source else [])],
                outputs="autoattack",
                name="autoattack_model",
            )
        )
    return Pipeline(
        nodes,
        namespace=f"adversarial.{model}",
        inputs={"classifier": f"{model}.classifier", "test_split": "test_split"}
        | ({"source": f"{transfer_source}.classifier"} if autoattack and transfer_source else {}),
        parameters={
            "params:training": f"params:{model}.training",
            "params:training_defaults": "params:training_defaults",
            "params:adversarial": "params:adversarial",
        },
    )


def create_pipeline(parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> Pipeline:
    parameters = pipeline_parameters(parameters)
    adversarial = AdversarialParameters.from_dict(parameters.get("adversarial") or {}, "adversarial")
    robust = list(adversarial.robust_models)
    models = attacked_models(adversarial, trained_model_names(parameters))
    shared = {"params:training_defaults": "params:training_defaults", "params:augmentation": "params:augmentation"}
    robust_training = sum(
        (
            Pipeline(
                model_training_template(name),
                namespace=name,
                inputs={"train_split", "validation_split", "standardisation_stats"},
                parameters=shared,
            )
            + Pipeline(
                model_evaluation_template(name),
                namespace=name,
                inputs={"test_split"},
                parameters={"params:evaluation": "params:evaluation", "params:registry": "params:registry"},
            )
            for name in robust
        ),
        Pipeline([]),
    )
    with reading_across_namespaces():
        autoattack = adversarial.autoattack is not None
        # a robust model's baseline is the source of the black-box transfer attack (a check on masked gradients)
        source = adversarial.baseline if adversarial.baseline in models else None
        attacks = sum((_attack_template(m, autoattack, source if m in robust else None) for m in models), Pipeline([]))
        records = [f"adversarial.{m}.autoattack" for m in models] if autoattack else []
        report = Pipeline(
            [
                Node(
                    report_attacks,
                    inputs=["params:adversarial", *(f"adversarial.{m}.result" for m in models), *records],
                    outputs={
                        "table": "adversarial_accuracy",
                        "autoattack": "adversarial_autoattack",
                        "markdown": "adversarial_report",
                        "plot": "adversarial_accuracy_plot",
                        "metrics": "adversarial_metrics",
                    },
                    name="report_attacks",
                )
            ]
        )
    return robust_training + attacks + report

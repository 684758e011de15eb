"""Unit tests of the adversarial pipeline's nodes: which models are attacked, how their adversarial training is reported,
the verdicts of the report and the typed result each attack hands on."""

import copy
import json

import pytest
from pydantic import ValidationError

from practical_dl.core.params import ParameterError
from practical_dl.methods.attacks import AdversarialParameters
from practical_dl.pipelines.adversarial.nodes import AttackResult, _adversarial_training, attack_claims, attacked_models, report_attacks
from practical_dl.project.datasets import TypedJSONDataset
from practical_dl.project.parameters import TrainingOverrides, TrainingSettings
from practical_dl.project.reporting import render_report
from tests.conftest import TRAINING_DEFAULTS, shipped_parameters

ADVERSARIAL = shipped_parameters("adversarial")
ROBUST = shipped_parameters("simplenet_robust", "parameters_adversarial.yml")


def adversarial_parameters(**change) -> AdversarialParameters:
    return AdversarialParameters.from_dict(copy.deepcopy(ADVERSARIAL) | change, "adversarial")


def test_every_trained_model_then_the_robust_ones_by_default():
    assert attacked_models(adversarial_parameters(models=None), ["fc64", "simplenet"]) == ["fc64", "simplenet", "simplenet_robust"]
    assert attacked_models(adversarial_parameters(models=["simplenet"], robust_models=[]), ["fc64", "simplenet"]) == ["simplenet"]


def test_the_whole_test_split_is_attacked_unless_test_images_says_otherwise():
    block = {"epsilons": [0, 0.1], "attacks": {"fgsm": {"kind": "fgsm"}}}
    adversarial = AdversarialParameters.from_dict(block, "adversarial")
    assert adversarial.test_images is None and adversarial.batch_size == 500 and adversarial.robust_models == []
    assert adversarial.examples.epsilons == [0.1, 0.2, 0.3] and adversarial.examples.per_class == 1


def test_the_adversarial_training_is_reported_as_the_parameters_set_it():
    defaults = TrainingSettings.from_dict(TRAINING_DEFAULTS, "training_defaults")
    robust = TrainingOverrides.from_dict(ROBUST["training"], "simplenet_robust.training")
    assert _adversarial_training(defaults, robust, "simplenet_robust") == ROBUST["training"]["adversarial"]
    assert _adversarial_training(defaults, TrainingOverrides.from_dict({"epochs": 2}, "fc64.training"), "fc64") is None


def test_a_bad_adversarial_training_is_named():
    defaults = TrainingSettings.from_dict(TRAINING_DEFAULTS, "training_defaults")
    with pytest.raises(ParameterError, match=r"simplenet_robust\.training\.adversarial\.fraction: must be > 0, got 0"):
        TrainingOverrides.from_dict({"adversarial": {"fraction": 0}}, "simplenet_robust.training")
    assert defaults.adversarial is None


def _result(model, fgsm, pgd, adversarial_training=None, test_images=100):
    return AttackResult(
        model=model,
        label=model,
        test_images=test_images,
        epsilons=[0, 0.1, 0.2, 0.3],
        accuracy={"fgsm": fgsm, "pgd": pgd},
        attacks=dict(adversarial_parameters().attacks),
        seconds={"fgsm": 1.5, "pgd": 12.0},
        adversarial_training=adversarial_training,
    )


def test_the_claims_compare_the_robust_model_with_the_baseline():
    base = _result("simplenet", [0.99, 0.5, 0.2, 0.1], [0.99, 0.3, 0.05, 0.0])
    robust = _result("simplenet_robust", [0.98, 0.9, 0.8, 0.7], [0.98, 0.8, 0.6, 0.5], {"attack": "fgsm", "epsilon": 0.3})
    lines = [claim.line() for claim in attack_claims(adversarial_parameters(), (base, robust))]
    assert any("simplenet: FGSM accuracy falls as ε grows: **holds**" in line for line in lines)
    assert any("more robust to fgsm than simplenet: **holds** — ε=0.1: 90.0% vs 50.0%" in line for line in lines)
    assert attack_claims(adversarial_parameters(baseline=None), (base, robust))[-1].line().startswith("- simplenet_robust: PGD")


def test_a_rising_fgsm_curve_and_a_weaker_pgd_are_contradicted():
    odd = _result("simplenet", [0.99, 0.5, 0.6, 0.1], [0.99, 0.55, 0.05, 0.0])
    falls, stronger = attack_claims(adversarial_parameters(), (odd,))
    assert falls.line() == (
        "- simplenet: FGSM accuracy falls as ε grows: **contradicted** — 99.0% at ε=0, 50.0% at ε=0.1, 60.0% at ε=0.2, 10.0% at ε=0.3."
    )
    assert stronger.line() == "- simplenet: PGD is at least as strong as FGSM at every ε: **contradicted**."


def test_the_report_holds_every_claim_line_after_the_table():
    base = _result("simplenet", [0.99, 0.5, 0.2, 0.1], [0.99, 0.3, 0.05, 0.0], test_images=100)
    robust = _result("simplenet_robust", [0.98, 0.9, 0.8, 0.7], [0.98, 0.8, 0.6, 0.5], {"attack": "fgsm", "epsilon": 0.3}, test_images=100)
    adversarial = adversarial_parameters()
    markdown = render_report(report_attacks(adversarial, base, robust)["markdown"])
    claims = attack_claims(adversarial, (base, robust))
    assert len(claims) == 6 and all(claim.line() in markdown.splitlines() for claim in claims)
    assert markdown.index("| simplenet_robust |") < markdown.index("## What the runs show") < markdown.index(claims[0].line())
    assert "on 100 test images" in markdown


def test_the_result_round_trips_through_its_catalog_dataset(tmp_path):
    robust = _result("simplenet_robust", [0.98, 0.9, 0.8, 0.7], [0.98, 0.8, 0.6, 0.5], {"attack": "fgsm", "epsilon": 0.3})
    dataset = TypedJSONDataset(
        model="practical_dl.pipelines.adversarial.nodes.AttackResult", filepath=str(tmp_path / "simplenet_robust.json")
    )
    dataset.save(robust)
    assert dataset.load() == robust
    assert list(json.loads((tmp_path / "simplenet_robust.json").read_text())) == [
        "model",
        "label",
        "test_images",
        "epsilons",
        "accuracy",
        "attacks",
        "seconds",
        "adversarial_training",
    ]


def test_a_result_with_an_accuracy_missing_for_an_epsilon_is_refused():
    with pytest.raises(ValidationError, match="accuracy under pgd: 3 values for 4 epsilons"):
        _result("simplenet", [0.99, 0.5, 0.2, 0.1], [0.99, 0.3, 0.05])

"""Unit tests of the adversarial pipeline's nodes: which models are attacked, how their adversarial training is reported."""

import copy

import pytest
import yaml

from practical_dl.core.params import ParameterError
from practical_dl.methods.attacks import AdversarialParameters
from practical_dl.pipelines.adversarial.nodes import _adversarial_training, attacked_models, check_attack_claims
from practical_dl.project.parameters import TrainingOverrides, TrainingSettings
from tests.conftest import ROOT, TRAINING_DEFAULTS

CONFIGURED = yaml.safe_load((ROOT / "conf" / "base" / "parameters_adversarial.yml").read_text())


def adversarial_parameters(**change) -> AdversarialParameters:
    return AdversarialParameters.from_dict(copy.deepcopy(CONFIGURED["adversarial"]) | change, "adversarial")


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
    robust = TrainingOverrides.from_dict(CONFIGURED["simplenet_robust"]["training"], "simplenet_robust.training")
    assert _adversarial_training(defaults, robust, "simplenet_robust") == CONFIGURED["simplenet_robust"]["training"]["adversarial"]
    assert _adversarial_training(defaults, TrainingOverrides.from_dict({"epochs": 2}, "fc64.training"), "fc64") is None


def test_a_bad_adversarial_training_is_named():
    defaults = TrainingSettings.from_dict(TRAINING_DEFAULTS, "training_defaults")
    with pytest.raises(ParameterError, match=r"simplenet_robust\.training\.adversarial\.fraction: must be > 0, got 0"):
        TrainingOverrides.from_dict({"adversarial": {"fraction": 0}}, "simplenet_robust.training")
    assert defaults.adversarial is None


def _result(model, fgsm, pgd, adversarial_training=None):
    return {
        "model": model,
        "label": model,
        "epsilons": [0, 0.1, 0.2, 0.3],
        "accuracy": {"fgsm": fgsm, "pgd": pgd},
        "adversarial_training": adversarial_training,
    }


def test_the_claims_compare_the_robust_model_with_the_baseline():
    base = _result("simplenet", [0.99, 0.5, 0.2, 0.1], [0.99, 0.3, 0.05, 0.0])
    robust = _result("simplenet_robust", [0.98, 0.9, 0.8, 0.7], [0.98, 0.8, 0.6, 0.5], {"attack": "fgsm", "epsilon": 0.3})
    lines = check_attack_claims(adversarial_parameters(), (base, robust))
    assert any("simplenet: FGSM accuracy falls as ε grows" in line for line in lines)
    assert any("more robust to fgsm than simplenet" in line for line in lines)
    assert check_attack_claims(adversarial_parameters(baseline=None), (base, robust))[-1].startswith("- simplenet_robust: PGD")

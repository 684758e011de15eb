"""Unit tests of the adversarial pipeline's nodes: which models are attacked, how their adversarial training is reported,
the verdicts of the report and the typed result each attack hands on."""

import copy
import json

import pytest
from pydantic import ValidationError

from practical_dl.core.params import ParameterError
from practical_dl.methods.attack_settings import PUBLISHED_MNIST, AdversarialParameters
from practical_dl.pipelines.adversarial.nodes import (
    AttackResult,
    AutoAttackRecord,
    _adversarial_training,
    attack_claims,
    attacked_models,
    autoattack_model,
    report_attacks,
)
from practical_dl.project.datasets import TypedJSONDataset
from practical_dl.project.parameters import TrainingOverrides, TrainingSettings
from practical_dl.project.reporting import Verdict, render_report
from tests.conftest import TRAINING_DEFAULTS, shipped_parameters
from tests.helpers.data import tiny_split
from tests.helpers.training import untrained_simplenet

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
    assert len(claims) == 7 and all(claim.line() in markdown.splitlines() for claim in claims)
    assert claims[4].line() == (
        "- simplenet_robust: PGD accuracy falls as ε grows: **holds** — 98.0% at ε=0, 80.0% at ε=0.1, 60.0% at ε=0.2, 50.0% at ε=0.3."
    )
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


def _record(model, after, robust_model=True, test_images=1000):
    """A made AutoAttack record: ``after`` the accuracy left after pgd, APGD-CE, APGD-T and Square in turn."""
    left = dict(zip(["pgd", "APGD-CE", "APGD-T", "Square"], after))
    return AutoAttackRecord(
        model=model,
        label=model,
        test_images=test_images,
        clean=0.99,
        accuracy_after=left,
        robust=after[-1],
        seconds=dict.fromkeys(left, 1.0),
        settings=adversarial_parameters().autoattack,
        robust_model=robust_model,
    )


@pytest.mark.parametrize(
    "after, verdict, against_madry",
    [
        ((0.78, 0.67, 0.65, 0.648), Verdict.CONTRADICTED, Verdict.CONTRADICTED),  # FGSM training's SimpLeNet-AT: 64.8 % against 82.88 %
        ((0.90, 0.85, 0.835, 0.834), Verdict.NOT_SHOWN, Verdict.CONTRADICTED),  # 83.4 %: 0.5 points above, inside the error (1.2)
        ((0.95, 0.92, 0.91, 0.905), Verdict.HOLDS, Verdict.HOLDS),
        ((0.92, 0.89, 0.885, 0.88), Verdict.HOLDS, Verdict.NOT_SHOWN),  # 88.0 %: 0.43 points below 88.43 %, inside the error (1.0)
    ],
)
def test_the_robust_models_autoattack_figure_is_weighed_against_the_literature_with_its_error(after, verdict, against_madry):
    base = _result("simplenet", [0.99, 0.5, 0.2, 0.1], [0.99, 0.3, 0.05, 0.0])
    robust = _result("simplenet_robust", [0.98, 0.9, 0.8, 0.7], [0.98, 0.8, 0.6, 0.5], {"attack": "fgsm", "epsilon": 0.3})
    made = report_attacks(
        adversarial_parameters(), base, robust, _record("simplenet", (0.0, 0.0, 0.0, 0.0), False), _record("simplenet_robust", after)
    )
    literature, madry = (c for c in made["markdown"].claims if "in the literature" in c.statement)
    masking = made["markdown"].claims[-1]
    assert "Wong et al. 2020: 82.88%" in literature.statement and literature.verdict is verdict
    assert literature.spread == pytest.approx(100 * (after[-1] * (1 - after[-1]) / 1000) ** 0.5)
    assert "PGD adversarial training" in madry.statement and "Madry et al. 2018: 88.43%" in madry.statement
    assert madry.verdict is against_madry and madry.spread == literature.spread
    assert masking.verdict is Verdict.HOLDS and "after Square" in masking.evidence
    table = made["autoattack"]
    assert list(table["model"]) == ["simplenet", "simplenet_robust", *(f"{who}, AutoAttack README" for who in PUBLISHED_MNIST)]
    assert list(table["AutoAttack"]) == [0.0, round(100 * after[-1], 1), 88.43, 92.76, 82.88]
    assert made["metrics"]["simplenet_robust.autoattack_accuracy"] == [{"step": 30, "value": after[-1]}]
    assert "AutoAttack's core at ε = 0.3" in render_report(made["markdown"])


@pytest.mark.parametrize("transferred, verdict", [(0.9, Verdict.HOLDS), (0.5, Verdict.CONTRADICTED)])
def test_a_transfer_attack_stronger_than_the_white_box_one_is_flagged_as_masked_gradients(transferred, verdict):
    record = _record("simplenet_robust", (0.78, 0.67, 0.65, 0.648)).model_copy(
        update={"transfer_source": "SimpLeNet", "transfer_accuracy": transferred}
    )
    base = _result("simplenet", [0.99, 0.5, 0.2, 0.1], [0.99, 0.3, 0.05, 0.0])
    (transfer,) = [c for c in report_attacks(adversarial_parameters(), base, record)["markdown"].claims if "black-box" in c.statement]
    assert transfer.verdict is verdict and transfer.evidence == f"{100 * transferred:.1f}% transferred vs 78.0% white-box"


def test_square_breaking_what_apgd_left_is_flagged_as_masked_gradients():
    masked = _record("simplenet_robust", (0.90, 0.80, 0.79, 0.70))
    base = _result("simplenet", [0.99, 0.5, 0.2, 0.1], [0.99, 0.3, 0.05, 0.0])
    *_, masking = report_attacks(adversarial_parameters(), base, masked)["markdown"].claims
    assert masking.verdict is Verdict.CONTRADICTED and masking.evidence == "79.0% after APGD, 70.0% after Square"


def test_autoattack_runs_after_one_of_the_attacks_named():
    with pytest.raises(ParameterError, match=r"autoattack\.after: 'cw' is not one of the attacks \(fgsm, pgd\)"):
        adversarial_parameters(autoattack={"after": "cw"})
    assert adversarial_parameters(autoattack=None).autoattack is None


def test_autoattack_on_a_model_gives_a_record_that_round_trips(tmp_path):
    adversarial = adversarial_parameters(
        test_images=20, device="cpu", autoattack={"apgd_steps": 2, "target_classes": 1, "square_queries": 3, "epsilon": 0.05}
    )
    record = autoattack_model(untrained_simplenet(), tiny_split(40), adversarial, model="simplenet")
    assert record.test_images == 20 and record.settings.epsilon == 0.05 and not record.robust_model
    assert record.transfer_source is None and record.transfer_accuracy is None
    transferred = autoattack_model(
        untrained_simplenet(), tiny_split(40), adversarial, untrained_simplenet(seed=1), model="simplenet_robust"
    )
    assert (
        transferred.robust_model and transferred.transfer_source == "simplenet" and 0 <= transferred.transfer_accuracy <= transferred.clean
    )
    left = list(record.accuracy_after.values())
    assert list(record.accuracy_after) == ["pgd", "APGD-CE", "APGD-T", "Square"] and left == sorted(left, reverse=True)
    assert record.robust == left[-1] <= left[0] <= record.clean
    dataset = TypedJSONDataset(model="practical_dl.pipelines.adversarial.nodes.AutoAttackRecord", filepath=str(tmp_path / "r.json"))
    dataset.save(record)
    assert dataset.load() == record


def test_the_published_figures_stand_only_beside_figures_at_their_epsilon():
    record = _record("simplenet_robust", (0.95, 0.92, 0.91, 0.905)).model_copy(
        update={"settings": adversarial_parameters(autoattack={"epsilon": 0.1}).autoattack}
    )
    made = report_attacks(
        adversarial_parameters(baseline=None), _result("simplenet", [0.99, 0.5, 0.2, 0.1], [0.99, 0.3, 0.05, 0.0]), record
    )
    assert list(made["autoattack"]["model"]) == ["simplenet_robust"]
    assert made["markdown"].claims[-1].statement.startswith("simplenet_robust's robustness is not masked gradients")
    assert not any("in the literature" in c.statement for c in made["markdown"].claims)

"""The ``patch`` pipeline's parameters, its list of models and the verdicts of its report."""

import copy

import pytest
import yaml

from practical_dl.pipelines.patch.nodes import check_patch_claims, check_patch_parameters, patched_models, report_patches
from tests.conftest import ROOT

BASE = yaml.safe_load((ROOT / "conf" / "base" / "parameters_patch.yml").read_text())["patch"]


def test_the_configured_parameters_give_one_patch_per_size():
    configs = check_patch_parameters(BASE)
    assert [c.size for c in configs] == BASE["sizes"]
    assert {c.target for c in configs} == {BASE["target"]}
    assert configs[0].steps == BASE["training"]["steps"]


@pytest.mark.parametrize(
    "change, named",
    [
        ({"sizes": [8, 4]}, r"patch\.sizes must be increasing"),
        ({"sizes": [4, 0]}, r"patch\.sizes\[1\]"),
        ({"sizes": []}, r"patch\.sizes"),
        ({"target": -1}, r"patch\.target"),
        ({"training": {"steps": 0}}, r"patch\.training\.steps"),
        ({"training": {"size": 4}}, r"patch\.training must map"),
        ({"test_images": 5}, r"patch\.test_images"),
        ({"bar": {"model": "simplenet", "max_size": 8, "success_percent": 180}}, r"patch\.bar\.success_percent"),
        ({"bar": {"model": "simplenet", "max_size": 8, "success_percent": 80, "size": 3}}, r"patch\.bar\.size"),
        ({"colour": "red"}, r"patch\.colour"),
    ],
)
def test_bad_parameters_are_named(change, named):
    params = copy.deepcopy(BASE) | change
    with pytest.raises(ValueError, match=named):
        check_patch_parameters(params)


def test_every_trained_model_then_the_robust_ones_by_default():
    assert patched_models({}, ["fc64", "simplenet"], {"robust_models": ["simplenet_robust"]}) == ["fc64", "simplenet", "simplenet_robust"]
    assert patched_models({"models": ["simplenet"]}, ["fc64", "simplenet"], {"robust_models": ["simplenet_robust"]}) == ["simplenet"]


def _result(model, success, random=None, every=None):
    sizes = [4, 8, 12]
    return {
        "model": model,
        "label": model.upper(),
        "target": 3,
        "sizes": sizes,
        "success": success,
        "random_patch_success": random or [0.0] * len(sizes),
        "already_target": 0.001,
        "test_images": 900,
        "train_images": 1000,
        "every_target": every,
        "training": {"steps": 300, "rotation_degrees": 15.0, "scale": (0.8, 1.2)},
    }


BAR = {"bar": {"model": "simplenet", "max_size": 8, "success_percent": 80}}
ROBUST = {"robust_models": ["simplenet_robust"]}


def test_the_bar_is_confirmed_only_by_a_patch_small_enough_and_strong_enough():
    met = check_patch_claims(BAR, ROBUST, (_result("simplenet", [0.1, 0.85, 0.99]),))
    assert "at least 80% of the test digits: **confirmed** — best 85.0%" in met[0]
    too_big = check_patch_claims(BAR, ROBUST, (_result("simplenet", [0.1, 0.5, 0.95]),))
    assert "**not confirmed by this run** — best 50.0%" in too_big[0]
    assert "needs a 12x12 patch (18% of the image) for 80%" in too_big[1]
    # a patch of the bar's size for another target counts too
    every = {"size": 8, "success": [0.2] * 9 + [0.81]}
    by_another_target = check_patch_claims(BAR, ROBUST, (_result("simplenet", [0.1, 0.5, 0.95], every=every),))
    assert "**confirmed** — best 81.0%" in by_another_target[0]


def test_growth_noise_and_robustness_verdicts_follow_the_numbers():
    base = _result("simplenet", [0.01, 0.05, 0.3], random=[0.0, 0.01, 0.02])
    robust = _result("simplenet_robust", [0.01, 0.06, 0.2])
    lines = check_patch_claims(BAR, ROBUST, (base, robust))
    simplenet = next(line for line in lines if line.startswith("- SIMPLENET: the larger"))
    assert simplenet.count("**confirmed**") == 2
    robust_growth = next(line for line in lines if line.startswith("- SIMPLENET_ROBUST: the larger"))
    assert "(as many digits as random pixels at every size, more at some): **confirmed**" in robust_growth
    defence = next(line for line in lines if "adversarial training defends" in line)
    assert "**not confirmed by this run** — 4x4: 1.0% vs 1.0%, 8x8: 6.0% vs 5.0%, 12x12: 20.0% vs 30.0%" in defence
    shrinking = check_patch_claims(BAR, ROBUST, (_result("simplenet", [0.3, 0.2, 0.4]),))
    assert "the more digits it turns: **not confirmed by this run**" in shrinking[-1]


def test_the_report_tables_every_model_and_size_and_logs_curves():
    out = report_patches(BAR, ROBUST, _result("simplenet", [0.01, 0.05, 0.3]), _result("fc64", [0.0, 0.04, 0.25]))
    assert list(out["table"].columns) == ["model", "4x4", "8x8", "12x12"]
    assert out["table"]["12x12"].tolist() == [30.0, 25.0]
    assert [p["step"] for p in out["metrics"]["simplenet.targeted_success"]] == [4, 8, 12]
    assert "| SIMPLENET |" in out["markdown"]

"""The ``patch`` pipeline's parameters, its list of models, the verdicts of its report and the typed result each attack hands on."""

import copy
import json

import numpy as np
import pytest
from pydantic import ValidationError

from practical_dl.core.params import ParameterError
from practical_dl.methods.attack_settings import AdversarialParameters
from practical_dl.methods.patch_settings import PatchTraining
from practical_dl.pipelines.patch.claims import patch_claims
from practical_dl.pipelines.patch.nodes import EveryTarget, PatchParameters, PatchResult, patched_models, report_patches
from practical_dl.project.datasets import TypedJSONDataset
from practical_dl.project.reporting import render_report
from tests.conftest import shipped_parameters

BASE = shipped_parameters("patch")
ADVERSARIAL = shipped_parameters("adversarial")


def patch_parameters(**change) -> PatchParameters:
    return PatchParameters.from_dict(copy.deepcopy(BASE) | change, "patch")


def adversarial_parameters(**change) -> AdversarialParameters:
    return AdversarialParameters.from_dict(copy.deepcopy(ADVERSARIAL) | change, "adversarial")


def test_the_configured_parameters_give_one_patch_per_size():
    configs = patch_parameters().configs()
    assert [c.size for c in configs] == BASE["sizes"]
    assert {c.target for c in configs} == {BASE["target"]}
    assert configs[0].steps == BASE["training"]["steps"]
    every = patch_parameters().configs(8, list(range(10)))
    assert [c.target for c in every] == list(range(10)) and {c.size for c in every} == {8}


@pytest.mark.parametrize(
    "change, named",
    [
        ({"sizes": [8, 4]}, r"patch\.sizes: must be increasing"),
        ({"sizes": [4, 0]}, r"patch\.sizes\[1\]: must be > 0, got 0"),
        ({"sizes": []}, r"patch\.sizes: must be a non-empty list"),
        ({"target": -1}, r"patch\.target: must be >= 0, got -1"),
        ({"models": "simplenet"}, r"patch\.models: must be a list"),
        ({"training": {"steps": 0}}, r"patch\.training\.steps: must be > 0, got 0"),
        ({"training": {"size": 4}}, r"patch\.training: size and target are set by patch\.sizes and patch\.target"),
        ({"test_images": 5}, r"patch\.test_images: must be >= 10, got 5"),
        ({"train_images": True}, r"patch\.train_images: must be an integer"),
        ({"seed": -1}, r"patch\.seed: must be >= 0"),
        ({"bar": {"model": "simplenet", "max_size": 8, "success_percent": 180}}, r"patch\.bar\.success_percent: must be <= 100, got 180"),
        ({"bar": {"model": "simplenet", "max_size": 0, "success_percent": 80}}, r"patch\.bar\.max_size: must be > 0"),
        ({"bar": {"model": "simplenet", "max_size": 8, "success_percent": 80, "size": 3}}, r"unknown parameter patch\.bar\.size"),
        ({"examples": {"per_class": 0}}, r"patch\.examples\.per_class: must be > 0"),
        ({"colour": "red"}, r"unknown parameter patch\.colour"),
    ],
)
def test_bad_parameters_are_named(change, named):
    params = copy.deepcopy(BASE) | change
    with pytest.raises(ParameterError, match=named):
        PatchParameters.from_dict(params, "patch")


def test_every_trained_model_then_the_robust_ones_by_default():
    robust = adversarial_parameters(robust_models=["simplenet_robust"])
    assert patched_models(patch_parameters(models=None), ["fc64", "simplenet"], robust) == ["fc64", "simplenet", "simplenet_robust"]
    assert patched_models(patch_parameters(models=["simplenet"]), ["fc64", "simplenet"], robust) == ["simplenet"]


def _result(model, success, random=None, every=None):
    sizes = [4, 8, 12]
    return PatchResult(
        model=model,
        label=model.upper(),
        target=3,
        sizes=sizes,
        success=success,
        random_patch_success=random or [0.0] * len(sizes),
        already_target=0.001,
        test_images=900,
        train_images=1000,
        seconds=[1.0] * len(sizes),
        every_target=every,
        training=PatchTraining(steps=300, rotation_degrees=15.0, scale=(0.8, 1.2)),
        patches={str(s): [[[0.5] * s] * s] for s in sizes},
    )


def _every_target(size, success):
    return EveryTarget(size=size, success=success, seconds=[2.0] * len(success))


BAR = patch_parameters(bar={"model": "simplenet", "max_size": 8, "success_percent": 80})
ROBUST = adversarial_parameters(robust_models=["simplenet_robust"])


def lines_of(*results):
    return [claim.line() for claim in patch_claims(BAR, ROBUST, results)]


def test_the_bar_holds_only_for_a_patch_small_enough_and_strong_enough():
    met = lines_of(_result("simplenet", [0.1, 0.85, 0.99]))
    assert "at least 80% of the test digits: **holds** — best 85.0%" in met[0]
    too_big = lines_of(_result("simplenet", [0.1, 0.5, 0.95]))
    assert "**contradicted** — best 50.0%" in too_big[0]
    assert "needs a 12x12 patch (18% of the image) for 80%" in too_big[0]
    # a patch of the bar's size for another target counts too
    every = _every_target(8, [0.2] * 9 + [0.81])
    by_another_target = lines_of(_result("simplenet", [0.1, 0.5, 0.95], every=every))
    assert "**holds** — best 81.0%" in by_another_target[0]
    assert "with every class as the target, a patch of 8x8 pixels reaches 0: 20.0%" in by_another_target[0]


def test_growth_noise_and_robustness_verdicts_follow_the_numbers():
    base = _result("simplenet", [0.01, 0.05, 0.3], random=[0.0, 0.01, 0.02])
    robust = _result("simplenet_robust", [0.01, 0.06, 0.2])
    lines = lines_of(base, robust)
    simplenet = [line for line in lines if line.startswith("- SIMPLENET: ")]
    assert len(simplenet) == 2 and all("**holds**" in line for line in simplenet)
    robust_noise = next(line for line in lines if line.startswith("- SIMPLENET_ROBUST: it is the optimised pixels"))
    assert "(as many digits as random pixels at every size, more at some): **holds**" in robust_noise
    defence = next(line for line in lines if "adversarial training defends" in line)
    assert "**contradicted** — 4x4: 1.0% vs 1.0%, 8x8: 6.0% vs 5.0%, 12x12: 20.0% vs 30.0%" in defence
    shrinking = lines_of(_result("simplenet", [0.3, 0.2, 0.4]))
    assert "the more digits it turns: **contradicted**" in next(line for line in shrinking if "the larger the patch" in line)


def test_the_report_tables_every_model_and_size_and_logs_curves():
    out = report_patches(BAR, ROBUST, _result("simplenet", [0.01, 0.05, 0.3]), _result("fc64", [0.0, 0.04, 0.25]))
    assert list(out["table"].columns) == ["model", "4x4", "8x8", "12x12"]
    assert out["table"]["12x12"].tolist() == [30.0, 25.0]
    assert [p["step"] for p in out["metrics"]["simplenet.targeted_success"]] == [4, 8, 12]
    assert "| SIMPLENET |" in render_report(out["markdown"])


def test_the_report_holds_every_claim_line_after_the_table():
    results = (_result("simplenet", [0.01, 0.05, 0.3]), _result("simplenet_robust", [0.0, 0.04, 0.25]))
    markdown = render_report(report_patches(BAR, ROBUST, *results)["markdown"])
    claims = patch_claims(BAR, ROBUST, results)
    assert len(claims) == 6 and all(claim.line() in markdown.splitlines() for claim in claims)
    assert markdown.index("| SIMPLENET_ROBUST |") < markdown.index("## What the runs show") < markdown.index(claims[0].line())
    assert "optimised on 1000 training digits" in markdown


def test_the_result_round_trips_through_its_catalog_dataset(tmp_path):
    result = _result("simplenet", [0.1, 0.5, 0.95], random=[0.0, 0.01, 0.02], every=_every_target(8, [0.2] * 9 + [0.81]))
    dataset = TypedJSONDataset(model="practical_dl.pipelines.patch.nodes.PatchResult", filepath=str(tmp_path / "simplenet.json"))
    dataset.save(result)
    assert dataset.load() == result
    saved = json.loads((tmp_path / "simplenet.json").read_text())
    assert saved["every_target"] == {"size": 8, "success": [0.2] * 9 + [0.81], "seconds": [2.0] * 10}
    assert saved["training"] == {
        "steps": 300,
        "batch_size": 128,
        "step_size": 0.05,
        "rotation_degrees": 15.0,
        "scale": [0.8, 1.2],
        "seed": 0,
    }
    assert np.array(saved["patches"]["8"]).shape == (1, 8, 8)


def test_a_result_without_a_number_for_every_size_is_refused():
    with pytest.raises(ValidationError, match="success: 2 values for 3 sizes"):
        _result("simplenet", [0.1, 0.5])
    with pytest.raises(ValidationError, match="9 timings for 10 targets"):
        EveryTarget(size=8, success=[0.2] * 10, seconds=[2.0] * 9)

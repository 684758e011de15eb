"""The ``gan`` pipeline's exploring node on a tiny generator: its scores, its pictures, and a generator that does not fit."""

import copy

import pytest
import torch

from practical_dl.models.gan import Generator
from practical_dl.pipelines.gan.nodes import GanParameters, explore_generator, report_gan
from practical_dl.project.figures import close
from practical_dl.project.reporting import Verdict
from tests.conftest import shipped_parameters
from tests.helpers.data import tiny_split
from tests.helpers.training import untrained_simplenet

BASE = shipped_parameters("gan")


def gan_parameters(**training) -> GanParameters:
    block = copy.deepcopy(BASE)
    block["training"] |= {"latent_dim": 8, "generator_features": 4, "device": "cpu"} | training
    block |= {"scores": {"splits": 2}, "samples": {"count": 6}, "interpolation": {"pairs": 2, "steps": 3}}
    block["arithmetic"] |= {"samples": 60, "group_size": 2}
    return GanParameters.from_dict(block, "gan")


@pytest.fixture(scope="module")
def classifier():
    return untrained_simplenet()


def test_the_generator_is_scored_beside_real_images_and_pictured(classifier):
    torch.manual_seed(0)
    weights = Generator(8, 4).state_dict()
    out = explore_generator(weights, tiny_split(40, seed=0), tiny_split(40, seed=1), classifier, gan_parameters())
    scores = out["scores"]
    assert scores["generated_images"] == 40 and sum(scores["generated_class_shares"]) == 40  # as many as the test split
    assert 1 <= scores["inception_score"] <= 2 and scores["frechet_distance"] >= 0  # splits: 2
    assert set(scores["arithmetic"]) == {
        "expression",
        "result_share_of_digit_c",
        "result_mean_ink",
        "group_a_mean_ink",
        "group_b_mean_ink",
        "group_c_mean_ink",
    }
    assert set(out["scores_mlflow"]) == {
        "inception_score",
        "frechet_distance",
        "real_test_inception_score",
        "real_validation_frechet_distance",
    }
    again = explore_generator(weights, tiny_split(40, seed=0), tiny_split(40, seed=1), classifier, gan_parameters())["scores"]
    assert again == scores  # one seeded stream of latent vectors
    for key in ("samples_plot", "interpolation_plot", "arithmetic_plot"):
        close(out[key])


def test_a_generator_that_does_not_fit_the_parameters_is_named(classifier):
    weights = Generator(8, 8).state_dict()
    with pytest.raises(ValueError, match=r"the saved generator does not fit parameters gan\.training .*rerun `kedro run --pipelines gan`"):
        explore_generator(weights, tiny_split(20, seed=0), tiny_split(20, seed=1), classifier, gan_parameters())


SCORES = {
    "generated_images": 1000,
    "inception_score": 7.58,
    "frechet_distance": 21.13,
    "real_test_inception_score": 9.74,
    "real_validation_frechet_distance": 1.29,
    "generated_class_shares": [120, 110, 100, 90, 95, 105, 77, 100, 103, 100],
}


def test_the_dcgans_claims_come_from_its_scores():
    report = report_gan(SCORES, GanParameters.from_dict(BASE, "gan"))
    drawn, bar = report.claims
    assert drawn.verdict is Verdict.HOLDS and "the rarest, 6, in 7.7% of 1000 samples" in drawn.evidence
    assert bar.verdict is Verdict.CONTRADICTED and bar.margin == pytest.approx(7.58 - 8.0) and "7.58; real test digits 9.74" in bar.evidence
    lowered = report_gan(
        SCORES | {"generated_class_shares": [1000, 0, 0, 0, 0, 0, 0, 0, 0, 0]},
        GanParameters.from_dict(BASE | {"claims": {"inception_score": 7}}, "gan"),
    )
    assert [c.verdict for c in lowered.claims] == [Verdict.CONTRADICTED, Verdict.HOLDS]

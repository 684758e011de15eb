"""The learned kernels and feature maps, drawn for the test digit ``evaluation.feature_map_image`` names."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from practical_dl.core.params import ParameterError  # noqa: E402
from practical_dl.core.standardise import Standardise  # noqa: E402
from practical_dl.models.classifier import DigitClassifier  # noqa: E402
from practical_dl.models.networks import build_model  # noqa: E402
from practical_dl.pipelines.evaluation.nodes import visualise_learned_kernels  # noqa: E402
from practical_dl.project.figures import close  # noqa: E402
from practical_dl.project.parameters import EvaluationParameters  # noqa: E402
from tests.helpers.data import tiny_split  # noqa: E402


def _classifier(name="simplenet"):
    torch.manual_seed(0)
    spec = {"architecture": {"name": name, "options": {}}, "in_channels": 1, "image_size": 28, "class_names": [str(d) for d in range(10)]}
    return DigitClassifier(build_model(name), Standardise((0.13,), (0.31,)), spec)


def test_kernels_and_feature_maps_of_the_chosen_test_digit():
    test = tiny_split(5)
    kernels, maps = visualise_learned_kernels(_classifier(), test, EvaluationParameters.from_dict({"feature_map_image": 4}, "evaluation"))
    assert any("test digit 4 (label 4)" in t.get_text() for t in maps.findobj(Text))
    close(kernels)
    close(maps)


def test_a_feature_map_image_outside_the_test_split_is_named():
    with pytest.raises(ValueError, match=r"parameter evaluation\.feature_map_image=5 is outside the 5 test images"):
        visualise_learned_kernels(_classifier(), tiny_split(5), EvaluationParameters.from_dict({"feature_map_image": 5}, "evaluation"))
    with pytest.raises(ParameterError, match=r"invalid parameter evaluation\.feature_map_image: must be >= 0, got -1"):
        EvaluationParameters.from_dict({"feature_map_image": -1}, "evaluation")

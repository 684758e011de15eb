"""The deep VGG-style family, the gradient-norm collaborator and the ``depth_bn`` pipeline's
members, parameters and verdicts."""

import copy
import math

import pytest
import torch

from practical_dl.core.diagnostics import GradientNorms
from practical_dl.core.engine import fit
from practical_dl.core.params import ParameterError
from practical_dl.core.standardise import Standardiser
from practical_dl.models.networks import DeepConvNet, build_model
from practical_dl.pipelines.depth_bn.nodes import (
    DepthBnParameters,
    DepthMemberSummary,
    check_depth_bn_claims,
    depth_members,
    member_spec,
    report_depth_bn,
)
from practical_dl.project.parameters import TrainingSettings
from practical_dl.project.reporting import Verdict, render_report
from tests.conftest import TRAINING_DEFAULTS as DEFAULTS
from tests.conftest import shipped_parameters
from tests.helpers.data import random_digits
from tests.helpers.training import cpu_config

BASE = shipped_parameters("depth_bn")


@pytest.mark.parametrize("depth", [3, 4, 8, 16, 32])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_the_deep_networks_have_the_stated_number_of_layers(depth, batch_norm):
    net = build_model("deep_convnet", depth=depth, batch_norm=batch_norm, width=4)
    convs = net.convolutions
    assert len(convs) == depth
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == (depth if batch_norm else 0)
    assert all((c.bias is None) == batch_norm for c in convs)
    assert [c.out_channels for c in convs][-1] == 16  # three stages: 4, 8, 16 channels
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_too_shallow_or_bad_width_is_refused():
    with pytest.raises(ValueError, match="depth must be an integer >= 3"):
        DeepConvNet(depth=2)
    with pytest.raises(ValueError, match="width"):
        DeepConvNet(depth=4, width=0)


def test_gradient_norms_are_measured_per_layer_without_touching_the_training():
    images, labels = random_digits(96)
    standardiser = Standardiser(mean=(127.0,), std=(74.0,))
    config = cpu_config(epochs=2, select_best=False, checkpoint_every=0)

    def trained(watch: bool):
        torch.manual_seed(0)
        net = DeepConvNet(depth=5, batch_norm=True, width=4)
        watcher = GradientNorms(net, lambda m: m.convolutions, images[:16], labels[:16], standardiser) if watch else None
        result = fit(net, (images, labels), (images[:32], labels[:32]), standardiser, config, callbacks=[watcher] if watch else [])
        return result, watcher

    watched, watcher = trained(True)
    alone, _ = trained(False)
    assert [row["epoch"] for row in watcher.history] == [0, 1, 2]
    assert all(len(row["norms"]) == 5 and all(v > 0 for v in row["norms"]) for row in watcher.history)
    for key, value in alone.model.state_dict().items():  # batch-norm statistics included
        assert torch.equal(value, watched.model.state_dict()[key]), key
    with pytest.raises(ValueError, match="as many labels as images"):
        GradientNorms(DeepConvNet(depth=3), lambda m: m.convolutions, images[:4], labels[:3], standardiser)


def _params(raw):
    return DepthBnParameters.from_dict(raw, "depth_bn")


def test_members_and_bad_parameters_named():
    members = depth_members(_params(BASE))
    assert len(members) == len(BASE["depths"]) * 2 * len(BASE["lr_factors"])
    assert members["depth_32.bn.lr_x10"] == {"depth": 32, "batch_norm": True, "lr_factor": 10.0}
    for change, named in (
        ({"depths": [8, 4]}, r"depth_bn\.depths: must be increasing, got \[8, 4\]"),
        ({"depths": [2, 4]}, r"depth_bn\.depths\[0\]: must be >= 3, got 2"),
        ({"lr_factors": [1, -10]}, r"depth_bn\.lr_factors\[1\]: must be > 0, got -10"),
        ({"width": 0}, r"depth_bn\.width: must be > 0, got 0"),
        ({"train_limit": 5}, r"depth_bn\.train_limit: must be >= 10, got 5"),
        ({"test_limit": True}, r"depth_bn\.test_limit: must be an integer, got True"),
        ({"probe_images": 1}, r"depth_bn\.probe_images: must be >= 2, got 1"),
        ({"not_learning_percent": 0}, r"depth_bn\.not_learning_percent: must be > 0, got 0"),
        ({"training": {"momentum": 2.0}}, r"depth_bn\.training\.momentum: must be < 1, got 2\.0"),
        ({"layers": 3}, r"unknown parameter depth_bn\.layers: remove it"),
    ):
        with pytest.raises(ParameterError, match=named):
            _params(copy.deepcopy(BASE) | change)


def test_a_run_is_deep_convnet_at_its_depth_and_a_multiple_of_the_learning_rate():
    model, config = member_spec(_params(BASE), TrainingSettings.from_dict(DEFAULTS), 16, True, 10.0)
    assert model.to_dict() == {
        "name": "deep_convnet",
        "label": "16 conv + BN",
        "options": {"depth": 16, "batch_norm": True, "width": BASE["width"]},
    }
    assert config.lr == pytest.approx(10 * BASE["training"]["lr"]) and config.epochs == BASE["training"]["epochs"]


def _run(depth, bn, factor, error, first_loss, ratio, diverged=False):
    return DepthMemberSummary(
        sweep="depth_bn",
        member=f"depth_{depth}.{'bn' if bn else 'plain'}.lr_x{factor}",
        value=f"depth_{depth}.{'bn' if bn else 'plain'}.lr_x{factor}",
        batch_size=32,
        lr=0.01 * factor,
        train_images=100,
        history=[{"epoch": 1, "train_loss": first_loss}, {"epoch": 2, "train_loss": first_loss / 2}],
        test_error_percent=math.nan if diverged else error,
        seconds_per_epoch=1.0,
        diverged=diverged,
        mlflow_run_id="x",
        depth=depth,
        batch_norm=bn,
        lr_factor=factor,
        gradient_norms=[{"epoch": 0, "norms": [ratio, 0.5, 1.0]}],
    )


LECTURE = (
    _run(4, False, 1, 2.0, 0.5, 0.5),
    _run(32, False, 1, 88.7, 2.3, 1e-4),
    _run(4, True, 1, 1.5, 0.3, 0.6),
    _run(32, True, 1, 3.0, 0.6, 0.2),
    _run(4, False, 10, 0, 0, 0.5, diverged=True),
    _run(32, False, 10, 0, 0, 1e-4, diverged=True),
    _run(4, True, 10, 2.0, 0.4, 0.6),
    _run(32, True, 10, 4.0, 0.7, 0.2),
)


def test_the_verdicts_follow_the_runs():
    claims = check_depth_bn_claims(LECTURE, 50)
    lines = [claim.line() for claim in claims]
    assert all(claim.verdict is Verdict.HOLDS for claim in claims)
    assert (
        lines[0].startswith("- Without batch norm, a deep enough network stops training")
        and "**holds** — best of each depth: 4 layers: 2.0% (lr 0.01), 32 layers: 88.7% (lr 0.01)" in lines[0]
    )
    assert "Batch norm lets the deeper networks train (every depth, at its best learning rate): **holds**" in lines[1]
    assert "Batch norm trains faster" in lines[2] and "**holds**" in lines[2]
    assert "10x larger learning rate" in lines[3] and "**holds** — 4 layers: diverged without, 2.0% with" in lines[3]
    assert "Gradients vanish" in lines[4] and "**holds**" in lines[4]
    every_depth_trains = [
        r.model_copy(update={"test_error_percent": 3.0}) if r.depth == 32 and not r.batch_norm and r.lr_factor == 1 else r for r in LECTURE
    ]
    contradicted = check_depth_bn_claims(tuple(every_depth_trains), 50)[0]
    assert contradicted.verdict is Verdict.CONTRADICTED and "**contradicted**" in contradicted.line()
    out = report_depth_bn(_params(BASE | {"probe_images": 8}), *LECTURE)
    assert list(out["table"]["conv layers"]) == [4, 4, 4, 4, 32, 32, 32, 32]
    assert out["table"]["test error (%)"].tolist().count("diverged") == 2
    ax_err = out["plot"].axes[0]
    assert [t.get_text() for t in ax_err.get_xticklabels()] == ["4", "32"]


def test_the_report_renders_every_claim():
    params = _params(BASE | {"probe_images": 8})
    report = render_report(report_depth_bn(params, *LECTURE)["report"])
    claims = check_depth_bn_claims(LECTURE, params.not_learning_percent)
    assert len(claims) == 5
    assert report.startswith("# Deep networks with and without batch norm: what these runs show\n")
    for claim in claims:
        assert claim.line() in report.splitlines()
    assert report.index("## The lecture's claims") < report.index("## Every run")

from functools import partial

import numpy as np
import pytest
import torch
import torchvision
from safetensors.torch import save_file

from practical_dl.core.engine import fit
from practical_dl.core.standardise import Standardiser
from practical_dl.methods import transfer
from practical_dl.methods.transfer import ProjectVGG, build_transfer_model, head_module
from tests.helpers.data import tiny_split
from tests.helpers.training import cpu_config

config = partial(cpu_config, epochs=2, batch_size=8)


@pytest.fixture
def source_state():
    torch.manual_seed(0)
    return ProjectVGG(num_classes=5, widths=(8, 16, 16)).state_dict()


def params_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_feature_extraction_leaves_the_backbone_bit_identical(source_state):
    model, _ = build_transfer_model("project_vgg", "feature_extract", 3, source_state=source_state, project_widths=(8, 16, 16))
    before = params_of(model)
    data = tiny_split(48, classes=3)
    fit(model, (data["images"], data["labels"]), None, Standardiser.identity(), config())
    after = params_of(model)
    head = {f"backbone.{n}" for n in transfer.head_parameter_names(model.backbone, model.head)}
    for name in before:
        if name in head:
            assert not torch.equal(before[name], after[name]), name
        else:
            assert torch.equal(before[name], after[name]), name


def test_fine_tuning_changes_backbone_and_head(source_state):
    model, _ = build_transfer_model("project_vgg", "fine_tune", 3, source_state=source_state, project_widths=(8, 16, 16))
    transfer.set_backbone_lr_factor(model, 0.1)
    before = params_of(model)
    data = tiny_split(48, classes=3)
    fit(model, (data["images"], data["labels"]), None, Standardiser.identity(), config())
    after = params_of(model)
    assert not torch.equal(before["backbone.features.0.weight"], after["backbone.features.0.weight"])
    assert not torch.equal(before["backbone.classifier.4.weight"], after["backbone.classifier.4.weight"])


def test_classifier_head_freezes_only_the_convolutions(source_state):
    model, _ = build_transfer_model(
        "project_vgg", "feature_extract", 3, source_state=source_state, project_widths=(8, 16, 16), head="classifier"
    )
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {
        "backbone.classifier.1.weight",
        "backbone.classifier.1.bias",
        "backbone.classifier.4.weight",
        "backbone.classifier.4.bias",
    }
    assert not torch.equal(model.backbone.classifier[1].weight, source_state["classifier.1.weight"])  # re-initialised
    assert torch.equal(model.backbone.features[0].weight, source_state["features.0.weight"])


def test_pretrained_weights_are_loaded_and_head_replaced(source_state):
    model, own_stats = build_transfer_model("project_vgg", "fine_tune", 3, source_state=source_state, project_widths=(8, 16, 16))
    assert own_stats
    assert torch.equal(model.backbone.features[0].weight, source_state["features.0.weight"])
    assert head_module(model.backbone).out_features == 3
    scratch, _ = build_transfer_model("project_vgg", "scratch", 3, project_widths=(8, 16, 16))
    assert not torch.equal(scratch.backbone.features[0].weight, source_state["features.0.weight"])


def test_frozen_backbone_keeps_batch_norm_statistics(tmp_path):
    path = tmp_path / "resnet18.safetensors"
    state = random_state("resnet18")
    state = {k: (v.abs() if "running_var" in k else v) for k, v in state.items()}
    save_file(state, str(path))
    model, own_stats = build_transfer_model("resnet18", "feature_extract", 4, weights_path=str(path), input_size=32)
    assert not own_stats
    running = model.backbone.bn1.running_mean.clone()
    model.train()
    assert not model.backbone.bn1.training and model.backbone.fc.training
    model(torch.rand(4, 1, 28, 28))
    assert torch.equal(model.backbone.bn1.running_mean, running)


def random_state(name: str) -> dict[str, torch.Tensor]:
    """Random weights of the right shapes for a torchvision model (quicker than its initialisation)."""
    with torch.device("meta"):
        specs = {k: (v.shape, v.dtype) for k, v in torchvision.models.get_model(name).state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    return {
        k: torch.randn(shape, generator=generator) * 0.01 if dtype.is_floating_point else torch.zeros(shape, dtype=dtype)
        for k, (shape, dtype) in specs.items()
    }


def test_vgg16_end_to_end_with_weights_the_test_writes(tmp_path):
    """The ImageNet path, offline: random vgg16 weights saved to a file, loaded through the same code."""
    reference = random_state("vgg16")
    path = tmp_path / "vgg16.pth"
    torch.save(reference, path)
    model, _ = build_transfer_model("vgg16", "fine_tune", 5, weights_path=str(path), input_size=32)
    assert torch.equal(model.backbone.features[0].weight, reference["features.0.weight"])
    assert head_module(model.backbone).out_features == 5
    x = torch.rand(2, 1, 28, 28)
    assert model.eval()(x).shape == (2, 5)
    data = tiny_split(10, classes=5)
    result = fit(model, (data["images"], data["labels"]), None, Standardiser.identity(), config(epochs=1, batch_size=5))
    assert np.isfinite(result.history[-1]["train_loss"])


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"weights file .*nope\.pth does not exist"):
        build_transfer_model("vgg16", "fine_tune", 5, weights_path=str(tmp_path / "nope.pth"))


def test_no_network_and_no_cache_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    entry = transfer.torchvision_weights("resnet18", "IMAGENET1K_V1")

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(type(entry), "get_state_dict", offline)
    with pytest.raises(RuntimeError, match=rf"put the file at {tmp_path}/hub/checkpoints/resnet18-"):
        build_transfer_model("resnet18", "fine_tune", 5, weights="IMAGENET1K_V1")


def test_class_count_mismatch_is_a_clear_error(tmp_path):
    path = tmp_path / "vgg.pth"
    torch.save(random_state("vgg11"), path)
    with pytest.raises(ValueError, match="do not fit torchvision's vgg16"):
        build_transfer_model("vgg16", "fine_tune", 5, weights_path=str(path))
    with pytest.raises(ValueError, match="at least 2 classes"):
        build_transfer_model("project_vgg", "scratch", 1)


def test_unknown_backbone_and_strategy():
    with pytest.raises(ValueError, match="unknown backbone 'alexnet'"):
        build_transfer_model("alexnet", "scratch", 3)
    with pytest.raises(ValueError, match="unknown strategy 'distil'"):
        build_transfer_model("project_vgg", "distil", 3)

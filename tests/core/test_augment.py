import numpy as np
import pytest
import torch

from practical_dl.core.augment import build_augmentation, materialise, preview
from practical_dl.core.config import AugmentConfig
from practical_dl.core.engine import fit
from practical_dl.core.params import ParameterError
from practical_dl.core.standardise import Standardiser
from practical_dl.models.networks import SimpLeNet
from tests.helpers.data import two_class_images
from tests.helpers.training import cpu_config


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    images = np.zeros((16, 1, 28, 28), dtype=np.uint8)
    images[:, :, 8:20, 12:16] = rng.integers(128, 256, size=(16, 1, 12, 4))  # a bar in the middle
    return images, rng.integers(0, 10, 16).astype(np.uint8)


def test_keeps_shape_dtype_and_range(batch):
    x = torch.from_numpy(batch[0]).float() / 255
    y = build_augmentation(AugmentConfig(rotation_degrees=20, translate=0.2, scale=(0.8, 1.2), reflect=True))(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert not torch.equal(x, y)
    assert float(y.min()) >= -1e-6 and float(y.max()) <= 1 + 1e-6


def test_draws_differ_per_sample_and_per_call(batch):
    x = torch.from_numpy(np.repeat(batch[0][:1], 8, axis=0)).float() / 255  # 8 copies of one digit
    augment = build_augmentation(AugmentConfig(rotation_degrees=30, translate=0.0, scale=(1.0, 1.0)))
    torch.manual_seed(0)
    a = augment(x)
    assert len({tuple(a[i].flatten()[::7].tolist()) for i in range(8)}) == 8  # one draw per sample
    assert not torch.equal(a, augment(x))  # and new draws on the next call


def test_seeded_and_reproducible(batch):
    x = torch.from_numpy(batch[0]).float() / 255
    augment = build_augmentation(AugmentConfig())
    torch.manual_seed(3)
    a = augment(x)
    torch.manual_seed(3)
    torch.testing.assert_close(a, augment(x))


def test_identity_setting_returns_the_input(batch):
    x = torch.from_numpy(batch[0]).float() / 255
    for config in (AugmentConfig(rotation_degrees=0, translate=0, scale=(1, 1), reflect=False), AugmentConfig(p=0.0)):
        assert config.is_identity
        assert torch.equal(build_augmentation(config)(x), x)


def test_materialise_enlarges_k_times_keeping_labels_aligned(batch):
    images, labels = batch
    big, big_labels = materialise(images, labels, AugmentConfig(materialise_factor=3))
    assert big.shape == (64, 1, 28, 28) and big.dtype == np.uint8
    np.testing.assert_array_equal(big[:16], images)  # originals first
    np.testing.assert_array_equal(big_labels, np.tile(labels, 4))
    again, _ = materialise(images, labels, AugmentConfig(materialise_factor=3))
    np.testing.assert_array_equal(big, again)


def test_preview_is_originals_then_draws(batch):
    grid = preview(batch[0], AugmentConfig(preview_images=3, preview_draws=4))
    assert grid.shape == (15, 1, 28, 28) and grid.dtype == np.uint8
    np.testing.assert_array_equal(grid[0], batch[0][0])
    np.testing.assert_array_equal(grid[5], batch[0][1])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rotation_degrees": -5}, r"invalid parameter augmentation\.rotation_degrees: must be >= 0, got -5$"),
        ({"translate": 1.5}, r"invalid parameter augmentation\.translate: must be < 1, got 1\.5$"),
        ({"scale": [1.2, 0.8]}, r"invalid parameter augmentation\.scale: .*low.*high.*, got \[1\.2, 0\.8\]$"),
        ({"p": 2}, r"invalid parameter augmentation\.p: must be <= 1, got 2$"),
        ({"mode": "offline"}, r"invalid parameter augmentation\.mode: must be one of 'on_the_fly' or 'materialise', got 'offline'$"),
        ({"materialise_factor": 0}, r"invalid parameter augmentation\.materialise_factor: must be > 0, got 0$"),
        ({"rotate": 10}, r"unknown parameter augmentation\.rotate: remove it or check its spelling$"),
    ],
)
def test_invalid_parameters_name_the_parameter(params, message):
    with pytest.raises(ParameterError, match=message):
        AugmentConfig.from_dict(params, "augmentation")


def test_engine_trains_with_augmentation_and_labels_stay_aligned(batch):
    """The augmented batches are the engine's own: a model still learns the labels."""
    images, labels = two_class_images(256, seed=1, size=28, top=True)
    torch.manual_seed(0)
    augment = build_augmentation(AugmentConfig(rotation_degrees=10, translate=0.05))
    result = fit(SimpLeNet(num_classes=2), (images, labels), (images, labels), Standardiser.identity(), cpu_config(), augment=augment)
    assert result.history[-1]["val_accuracy"] > 0.95


def test_a_training_block_may_change_some_augmentation_settings():
    """`augment: true` trains with the shared `augmentation` block, a mapping with that block
    changed (a weaker augmentation for a short recipe), `false` with none."""
    from practical_dl.project.parameters import training_settings
    from practical_dl.project.training_setup import augmentation_config

    shared = AugmentConfig.from_dict({"rotation_degrees": 10, "translate": 0.1, "scale": [0.9, 1.1]}, "augmentation")
    weaker = training_settings({"augment": {"rotation_degrees": 5, "scale": [0.95, 1.05]}}, where="plus.training")
    assert augmentation_config(weaker, shared, "plus.training") == AugmentConfig(rotation_degrees=5, translate=0.1, scale=(0.95, 1.05))
    assert augmentation_config(training_settings({"augment": True}, where="t"), shared) == shared
    assert augmentation_config(training_settings({"augment": False}, where="t"), shared) is None


@pytest.mark.parametrize(
    ("augment", "message"),
    [
        ({"rotate": 5}, r"unknown parameter plus\.training\.augment\.rotate: remove it or check its spelling"),
        ({"translate": 2.0}, r"invalid parameter plus\.training\.augment\.translate: must be < 1, got 2\.0"),
        ("yes", r"invalid parameter plus\.training\.augment: must be true or false or a mapping, got 'yes'"),
    ],
)
def test_a_bad_augmentation_change_names_the_parameter(augment, message):
    from practical_dl.project.parameters import training_settings
    from practical_dl.project.training_setup import augmentation_config

    with pytest.raises(ParameterError, match=message):
        augmentation_config(training_settings({"augment": augment}, where="plus.training"), AugmentConfig(), "plus.training")

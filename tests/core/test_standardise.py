import numpy as np
import pytest
import torch

from practical_dl.core.standardise import Standardiser, channel_statistics


def test_statistics_of_a_known_array():
    images = np.zeros((2, 2, 1, 2), dtype=np.uint8)
    images[:, 0] = [[[0, 255]], [[0, 255]]]  # channel 0: half 0, half 1 after scaling
    images[:, 1] = 51  # channel 1: constant 0.2 -> zero std
    images[1, 1, 0, 0] = 102
    stats = channel_statistics(images)
    assert stats["mean"][0] == pytest.approx(0.5)
    assert stats["std"][0] == pytest.approx(0.5)
    assert stats["mean"][1] == pytest.approx((0.2 * 3 + 0.4) / 4)


def test_statistics_reject_wrong_shape_and_constant_channel():
    with pytest.raises(ValueError, match="N x C x H x W"):
        channel_statistics(np.zeros((3, 28, 28), dtype=np.uint8))
    with pytest.raises(ValueError, match="zero standard deviation"):
        channel_statistics(np.full((3, 1, 2, 2), 7, dtype=np.uint8))


def test_standardised_training_images_have_zero_mean_unit_std():
    images = np.random.default_rng(1).integers(0, 256, size=(50, 3, 8, 8), dtype=np.uint8)
    s = Standardiser.from_stats(channel_statistics(images))
    x = s(torch.from_numpy(images))
    torch.testing.assert_close(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4, rtol=0)


def test_inverse_undoes_the_transform_for_images_and_targets():
    s = Standardiser(mean=(0.1, 0.2), std=(0.5, 2.0), scale=255.0)
    x = torch.rand(4, 2, 3, 3) * 255
    torch.testing.assert_close(s.inverse(s(x)), x, rtol=1e-5, atol=1e-4)
    targets = Standardiser(mean=(12.0,), std=(30.0,), dim=1)
    y = torch.tensor([[-45.0], [0.0], [45.0]])
    torch.testing.assert_close(targets.inverse(targets(y)), y)
    torch.testing.assert_close(targets(y), (y - 12.0) / 30.0)


def test_invalid_standardiser():
    with pytest.raises(ValueError, match="std must be positive"):
        Standardiser(mean=(0.0,), std=(0.0,))

"""A tiny DCGAN trained on a CUDA GPU: both networks on the GPU, the precision ``auto`` picks there,
finite losses, and samples and progress images in their ranges on the CPU."""

import logging
import math

import numpy as np
import pytest
import torch

from practical_dl.methods.gan.training import train_dcgan
from tests.helpers.training import tiny_gan

pytestmark = pytest.mark.cuda


def test_a_tiny_dcgan_trains_on_the_gpu(caplog):
    images, config = tiny_gan(epochs=2, device="cuda")
    precision = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    with caplog.at_level(logging.INFO, logger="practical_dl.methods.gan.training"):
        result = train_dcgan(images, config, score=lambda generator, epoch: {"mean_pixel": float(generator.sample(8).mean())})
    assert f"Training the DCGAN on cuda ({precision}), 96 images, 3 steps per epoch" in caplog.text
    for network in (result.generator, result.discriminator):
        assert all(p.device.type == "cuda" for p in network.parameters())
        assert not network.training
    assert not result.diverged
    assert [row["epoch"] for row in result.history] == [1, 2]
    for row in result.history:
        assert all(math.isfinite(row[key]) for key in ("loss_d", "loss_g", "d_real", "d_fake", "mean_pixel"))
        assert 0 <= row["d_real"] <= 1 and 0 <= row["d_fake"] <= 1
    samples = result.generator.sample(16, torch.Generator().manual_seed(0))  # drawn on the GPU, returned on the CPU
    assert samples.device.type == "cpu" and samples.shape == (16, 1, 28, 28)
    assert samples.min() >= 0 and samples.max() <= 1
    with torch.no_grad():
        raw = result.generator(torch.randn(4, config.latent_dim, device="cuda"))
    assert raw.device.type == "cuda" and raw.min() >= -1 and raw.max() <= 1  # the tanh output
    assert len(result.progress) == 2 and all(grid.shape == (6, 1, 28, 28) and grid.dtype == np.uint8 for grid in result.progress)
    assert not np.array_equal(result.progress[0], result.progress[1])  # the generator changed between the epochs

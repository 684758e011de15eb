"""The DCGAN's networks (Radford et al. 2015) for small grey images.

The paper's guidelines: strided convolutions in the discriminator and fractionally-strided
(transposed) ones in the generator, no pooling and no fully-connected hidden layers, batch norm
in both (not on the generator's output nor the discriminator's input), ReLU in the generator
with a tanh output, LeakyReLU(0.2) in the discriminator, weights drawn from N(0, 0.02).
"""

from __future__ import annotations

import torch
from torch import nn


class LatentProjection(nn.ConvTranspose2d):
    """DCGAN's first generator layer: the latent vector projected and reshaped to ``out_channels x
    k x k`` — a transposed convolution of a 1 x 1 input (its weights and state dict), computed as
    the matrix product it is, which a CPU runs faster than the transposed convolution's kernels."""

    def forward(self, z: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        simple = self.stride == (1, 1) and self.padding == (0, 0) and self.dilation == (1, 1) and self.groups == 1
        if z.shape[-2:] != (1, 1) or not simple or output_size is not None:  # otherwise not a plain matrix product
            return super().forward(z, output_size)
        out = (z.flatten(1) @ self.weight.flatten(1)).view(z.shape[0], self.out_channels, *self.kernel_size)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


class Generator(nn.Module):
    """Latent vector ``z`` (N x latent_dim) -> image in [-1, 1] (N x channels x 28 x 28).

    project to 7x7 (a 7x7 transposed convolution of the 1x1 input), then two fractionally-strided
    convolutions to 14x14 and 28x28.
    """

    def __init__(self, latent_dim: int = 100, features: int = 32, channels: int = 1) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            LatentProjection(latent_dim, features * 4, 7, 1, 0, bias=False),
            nn.BatchNorm2d(features * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(features * 4, features * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(features * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(features * 2, channels, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, batch_size: int = 1000) -> torch.Tensor:
        """``n`` images in [0, 1] on the CPU from latent vectors drawn with ``generator``."""
        z = torch.randn(n, self.latent_dim, generator=generator)
        return self.decode(z, batch_size)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Images in [0, 1] on the CPU for the latent vectors ``z`` (eval mode: batch norm uses its running statistics)."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        out = torch.cat([self(z[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(z), batch_size)])
        self.train(was_training)
        return (out + 1) / 2


class Discriminator(nn.Module):
    """Image in [-1, 1] (N x channels x 28 x 28) -> one logit per image (real vs generated)."""

    def __init__(self, features: int = 32, channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, features * 2, 4, 2, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(features * 2, features * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(features * 4),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(features * 4, 1, 7, 1, 0),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN's initialisation: convolutions from N(0, 0.02), batch-norm scales from N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)

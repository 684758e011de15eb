"""Model architectures of the lecture, as plain PyTorch modules.

``build_model`` turns a configuration dictionary (as found in ``parameters_training.yml``)
into a module, so pipelines add a model by configuration only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn


class SimpLeNet(nn.Module):
    """The lecture's simplified LeNet for 28x28 digits.

    conv 1->20 k5, ReLU, max-pool 2; conv 20->50 k5, ReLU, max-pool 2; flatten (800);
    linear 800->256, ReLU; linear 256->10.

    ``batch_norm`` adds ``BatchNorm2d`` after each convolution and ``BatchNorm1d`` after the
    hidden linear layer; ``dropout`` > 0 adds dropout before each linear layer. Both default
    to off, which gives exactly the lecture's network.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int = 28,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 20, kernel_size=5)
        self.bn1 = nn.BatchNorm2d(20) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(20, 50, kernel_size=5)
        self.bn2 = nn.BatchNorm2d(50) if batch_norm else nn.Identity()
        self.pool = nn.MaxPool2d(2, 2)
        side = ((image_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"image_size={image_size} is too small for SimpLeNet (needs >= 16)")
        self.flat_features = 50 * side * side
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc1 = nn.Linear(self.flat_features, 256)
        self.bn3 = nn.BatchNorm1d(256) if batch_norm else nn.Identity()
        self.output = nn.Linear(256, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate (256-d) features."""
        # ReLU after the max-pool: the same numbers as conv, ReLU, pool (both are monotone, so
        # they commute, forward and backward, to the bit), at a quarter of ReLU's work
        x = torch.relu(self.pool(self.bn1(self.conv1(x))))
        x = torch.relu(self.pool(self.bn2(self.conv2(x))))
        # flatten, not view(-1, 800): view fails on channels_last tensors
        x = torch.flatten(x, 1)
        return torch.relu(self.bn3(self.fc1(self.drop(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.drop(self.features(x)))


class MLP(nn.Module):
    """Fully-connected classifier on flattened images: FC64 is ``hidden=(64,)``,
    FC256-FC256 is ``hidden=(256, 256)``."""

    def __init__(
        self,
        hidden: Sequence[int] = (64,),
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int = 28,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not hidden or any(int(h) <= 0 for h in hidden):
            raise ValueError(f"hidden must be a non-empty list of positive sizes, got {list(hidden)}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_channels * image_size * image_size
        for h in hidden:
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            layers.append(nn.Linear(width, int(h)))
            if batch_norm:
                layers.append(nn.BatchNorm1d(int(h)))
            layers.append(nn.ReLU())
            width = int(h)
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DeepConvNet(nn.Module):
    """A VGG-style family of any depth for the lecture's claim that batch norm lets you build
    deeper networks: ``depth`` 3x3 convolutions with ReLU in three stages (28x28, 14x14 and 7x7,
    max-pooling between them, ``width``, 2 ``width`` and 4 ``width`` channels), the convolutions
    shared out as evenly as the depth allows (earlier stages first); then global average pooling
    and one linear layer. ``batch_norm`` puts ``BatchNorm2d`` after every convolution (which then
    has no bias). The weights keep PyTorch's default initialisation, as a plain network would.
    """

    def __init__(
        self, depth: int = 8, batch_norm: bool = False, width: int = 8, in_channels: int = 1, num_classes: int = 10, image_size: int = 28
    ) -> None:
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 3:
            raise ValueError(f"depth must be an integer >= 3 (one convolution per stage at least), got {depth!r}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        if image_size < 4:
            raise ValueError(f"image_size={image_size} is too small for two max-poolings")
        per_stage = [depth // 3 + (1 if i < depth % 3 else 0) for i in range(3)]
        layers: list[nn.Module] = []
        channels = in_channels
        for stage, convs in enumerate(per_stage):
            if stage:
                layers.append(nn.MaxPool2d(2))
            for _ in range(convs):
                out = width * 2**stage
                layers.append(nn.Conv2d(channels, out, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.ReLU(inplace=True))
                channels = out
        self.features = nn.Sequential(*layers)
        self.output = nn.Linear(channels, num_classes)

    @property
    def convolutions(self) -> list[nn.Conv2d]:
        """The convolutions, input first."""
        return [m for m in self.features if isinstance(m, nn.Conv2d)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


#: Model names usable in ``parameters_training.yml`` and what they build.
MODEL_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "simplenet": SimpLeNet,
    "fc64": lambda **kw: MLP(hidden=(64,), **kw),
    "fc256_fc256": lambda **kw: MLP(hidden=(256, 256), **kw),
    "mlp": MLP,
    "deep_convnet": DeepConvNet,
}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model by name, e.g. ``build_model("simplenet", dropout=0.5)``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    try:
        factory = MODEL_REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model name {name!r}; known models: {sorted(MODEL_REGISTRY)}") from None
    return factory(**kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

"""Transfer learning in plain PyTorch: backbones, pre-trained weights, head replacement and the
two strategies of the lecture.

* ``fine_tune``: the whole network trains, with a small learning rate (optionally smaller still
  on the backbone than on the new head);
* ``feature_extract``: the backbone is frozen (no gradients, batch-norm statistics kept) and
  only the replaced head trains;
* ``scratch``: the same architecture from a random initialisation, as the baseline.

Backbones: torchvision's ``vgg16`` and ``resnet18`` (ImageNet weights through torchvision's
weights API, or a local weights file), and ``project_vgg``, a small VGG-style network for
28x28 grey images that this project pre-trains itself.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from practical_dl.core.standardise import Standardise
from practical_dl.methods.transfer_settings import BACKBONES, HEADS, STRATEGIES

logger = logging.getLogger(__name__)


class ProjectVGG(nn.Module):
    """A VGG-style network for small grey images: blocks of 3x3 convolutions with ReLU, each
    block deeper and, after its max-pool, half the resolution; then a fully-connected head.

    Like torchvision's VGG it has ``features`` and ``classifier``; ``classifier[-1]`` is the
    layer replaced for a new task.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, widths: tuple[int, ...] = (32, 64, 128), image_size: int = 28) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            convs = 1 if i == 0 else 2
            for _ in range(convs):
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
                channels = width
            layers.append(nn.MaxPool2d(2))
            image_size //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * image_size * image_size, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(0.3),
            nn.Linear(256, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class InputAdapter(nn.Module):
    """What a pre-trained network expects: grey -> 3 channels, resized, its own normalisation.

    Takes images scaled to [0, 1] (the engine's ``Standardiser.identity``); the weights' mean and
    standard deviation are applied by the project's one :class:`~practical_dl.core.standardise.Standardise`.
    """

    def __init__(self, channels: int, size: int | None, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.channels, self.size = channels, size
        self.normalise = Standardise(mean, std, scale=1.0, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1 and self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        if self.size is not None and x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.normalise(x)


class TransferModel(nn.Module):
    """``adapter -> backbone`` (its head replaced); with ``frozen`` the backbone neither gets
    gradients nor updates batch-norm statistics (it stays in evaluation mode)."""

    def __init__(self, backbone: nn.Module, adapter: nn.Module | None = None, frozen: bool = False, head: str = "last") -> None:
        super().__init__()
        self.adapter = adapter or nn.Identity()
        self.backbone = backbone
        self.frozen = frozen
        self.head = head
        if frozen:
            for name, p in backbone.named_parameters():
                p.requires_grad_(name in head_parameter_names(backbone, head))

    def train(self, mode: bool = True) -> TransferModel:
        super().train(mode)
        if self.frozen:
            self.backbone.train(False)
            head_module(self.backbone, self.head).train(mode)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.adapter(x))


def head_module(backbone: nn.Module, head: str = "last") -> nn.Module:
    """The part replaced for a new task: the last fully-connected layer (``classifier[-1]`` of a
    VGG, ``fc`` of a ResNet), or with ``head="classifier"`` all of a VGG's fully-connected layers."""
    if hasattr(backbone, "classifier") and isinstance(backbone.classifier, nn.Sequential):
        return backbone.classifier if head == "classifier" else backbone.classifier[-1]
    if hasattr(backbone, "fc"):
        return backbone.fc
    raise ValueError(f"do not know the classification head of {type(backbone).__name__}")


def head_parameter_names(backbone: nn.Module, head: str = "last") -> set[str]:
    head = head_module(backbone, head)
    ids = {id(p) for p in head.parameters()}
    return {name for name, p in backbone.named_parameters() if id(p) in ids}


def replace_head(backbone: nn.Module, num_classes: int, head: str = "last") -> nn.Module:
    """A new, randomly initialised last layer with ``num_classes`` outputs; with
    ``head="classifier"`` every fully-connected layer of the classifier is re-initialised too."""
    if num_classes < 2:
        raise ValueError(f"a classification head needs at least 2 classes, got {num_classes}")
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; known: {list(HEADS)}")
    if head == "classifier":
        for module in head_module(backbone, "classifier").modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()
    old = head_module(backbone)
    new = nn.Linear(old.in_features, num_classes)
    if hasattr(backbone, "classifier") and isinstance(backbone.classifier, nn.Sequential):
        backbone.classifier[-1] = new
    else:
        backbone.fc = new
    return backbone


def torchvision_weights(name: str, weights: str):
    """torchvision's weights enum entry, e.g. ``("vgg16", "IMAGENET1K_V1")``."""
    import torchvision

    try:
        return torchvision.models.get_model_weights(name)[weights]
    except KeyError:
        known = [w.name for w in torchvision.models.get_model_weights(name)]
        raise ValueError(f"unknown weights {weights!r} for {name}; torchvision has {known}") from None


def cached_weights_path(entry) -> Path:
    """Where torch hub keeps (or would keep) a downloaded weights file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(entry.url).name


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a PyTorch file, never unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return state


def pretrained_state_dict(
    name: str, weights: str | None, weights_path: str | None, download_timeout: float = 20.0
) -> dict[str, torch.Tensor] | None:
    """The pre-trained weights of a torchvision backbone: a local file if given, else torchvision's
    weights (from the torch hub cache, or downloaded into it). Fails at once, saying where to put
    the file, when neither a cached copy nor the network is there."""
    if weights_path:
        return load_state_dict_file(weights_path)
    if not weights:
        return None
    entry = torchvision_weights(name, weights)
    cached = cached_weights_path(entry)
    if cached.is_file():
        return load_state_dict_file(cached)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(download_timeout)
    try:
        return entry.get_state_dict(progress=True)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        raise RuntimeError(
            f"cannot download the {weights} weights of {name} ({entry.url}): {exc}. Without network access, "
            f"put the file at {cached} (torch hub's cache; set TORCH_HOME to move it), or give its path as "
            f"transfer_learning.backbone.weights_path"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def build_transfer_model(
    backbone: str,
    strategy: str,
    num_classes: int,
    in_channels: int = 1,
    image_size: int = 28,
    source_state: dict[str, torch.Tensor] | None = None,
    weights: str | None = None,
    weights_path: str | None = None,
    input_size: int | None = None,
    project_widths: tuple[int, ...] = (32, 64, 128),
    head: str = "last",
) -> tuple[TransferModel, bool]:
    """The network for ``strategy``, its head replaced for ``num_classes``.

    Returns the model and whether the caller should standardise inputs with the data set's own
    statistics (``project_vgg``) or only scale them to [0, 1] (torchvision backbones normalise
    with their weights' statistics in the ``InputAdapter``).
    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; known: {list(BACKBONES)}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; known: {list(STRATEGIES)}")
    pretrained = strategy != "scratch"
    if backbone == "project_vgg":
        if pretrained and source_state is None:
            raise ValueError("project_vgg needs the source task's weights for fine_tune and feature_extract")
        net = ProjectVGG(num_classes=num_classes, in_channels=in_channels, widths=tuple(project_widths), image_size=image_size)
        if pretrained:
            head_weight = [n for n in head_parameter_names(net) if n.endswith("weight")][0]
            replace_head(net, source_state[head_weight].shape[0])  # the source task's head, replaced below
            try:
                net.load_state_dict(source_state)
            except RuntimeError as exc:
                raise ValueError(f"the source weights do not fit project_vgg with widths {tuple(project_widths)}: {exc}") from None
        replace_head(net, num_classes, head)
        return TransferModel(net, frozen=strategy == "feature_extract", head=head), True

    import torchvision

    adapter_mean, adapter_std, size = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), input_size
    if not pretrained:
        net = torchvision.models.get_model(backbone, weights=None)
    else:
        state = pretrained_state_dict(backbone, weights, weights_path)
        if state is None:
            raise ValueError(f"{strategy} with {backbone} needs pre-trained weights: set weights (e.g. IMAGENET1K_V1) or weights_path")
        with torch.device("meta"):  # no random initialisation of weights about to be replaced
            net = torchvision.models.get_model(backbone, weights=None)
        try:
            net.load_state_dict(state, assign=True)
        except RuntimeError as exc:
            raise ValueError(f"the weights do not fit torchvision's {backbone}: {exc}") from None
        if weights and not weights_path:
            transforms = torchvision_weights(backbone, weights).transforms()
            adapter_mean, adapter_std = tuple(transforms.mean), tuple(transforms.std)
            size = input_size or transforms.crop_size[0]
    replace_head(net, num_classes, head)
    adapter = InputAdapter(3, size, adapter_mean, adapter_std)
    return TransferModel(net, adapter, frozen=strategy == "feature_extract", head=head), False


def set_backbone_lr_factor(model: TransferModel, factor: float) -> None:
    """Mark the backbone's (non-head) parameters to train at ``factor`` times the learning rate."""
    head = head_parameter_names(model.backbone, model.head)
    for name, p in model.backbone.named_parameters():
        if name not in head:
            p.lr_factor = factor  # read by practical_dl.core.optim.make_optimizer


def describe(model: TransferModel) -> dict[str, Any]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable_parameters": trainable, "parameters": total}

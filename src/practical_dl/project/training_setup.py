"""One model's typed parameter blocks -> its network, training data, standardiser and checkpointer."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from practical_dl.core.augment import build_augmentation, materialise
from practical_dl.core.checkpoint import Checkpointer, settings_fingerprint
from practical_dl.core.config import AugmentConfig, TrainConfig
from practical_dl.core.params import ParameterError, merged
from practical_dl.core.standardise import Standardiser
from practical_dl.models.networks import build_model
from practical_dl.project.parameters import ModelSpec, TrainingSettings


def model_from_params(spec: ModelSpec | dict[str, Any], where: str, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """Build the network a ``model`` block describes (:class:`~practical_dl.project.parameters.ModelSpec`)."""
    spec = ModelSpec.from_dict(spec, where)
    try:
        return build_model(spec.name, in_channels=in_channels, image_size=image_size, num_classes=spec.num_classes, **spec.options)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"invalid parameter {where}.options: cannot build {spec.name!r}: {exc}") from None


def state_dict_for_saving(model: nn.Module) -> dict[str, torch.Tensor]:
    """CPU, contiguous copies of a model's tensors, as safetensors requires."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def input_standardiser(config: TrainConfig, stats: dict, channels: int) -> Standardiser:
    """The standardiser a model is trained and evaluated with: the training split's statistics,
    or only the [0, 1] scaling when ``standardise`` is off."""
    return Standardiser.from_stats(stats) if config.standardise else Standardiser.identity(channels, scale=float(stats.get("scale", 255.0)))


def augmentation_config(config: TrainingSettings, augmentation: AugmentConfig, where: str = "training") -> AugmentConfig | None:
    """The augmentation a model trains with: none when its ``augment`` is false, the shared
    ``augmentation`` block when it is true, and that block with some settings changed when it is
    a mapping (``augment: {rotation_degrees: 5}``: a weaker augmentation for a short recipe)."""
    if config.augment is False:
        return None
    if config.augment is True:
        return augmentation
    return merged(AugmentConfig, augmentation, config.augment, where=f"{where}.augment")


def training_data(
    split: dict[str, np.ndarray], config: TrainingSettings, augmentation: AugmentConfig, where: str = "training"
) -> tuple[np.ndarray, np.ndarray, nn.Module | None]:
    """Training images and labels, and the on-device augmentation to apply to them
    (:func:`augmentation_config`).

    With augmentation: ``on_the_fly`` returns the kornia transforms (new draws every epoch);
    ``materialise`` returns a k-times enlarged set drawn once, and no transform.
    """
    images, labels = split["images"], split["labels"]
    aug = augmentation_config(config, augmentation, where)
    if aug is None:
        return images, labels, None
    if aug.mode == "materialise":
        images, labels = materialise(images, labels, aug)
        return images, labels, None
    return images, labels, build_augmentation(aug)


#: Settings that do not change what training computes, left out of a checkpoint's fingerprint.
NOT_IN_FINGERPRINT = ("progress", "resume", "checkpoint_every", "checkpoint_seconds", "checkpoint_dir", "distributed_backend")


def training_checkpointer(config: Any, name: str, *identity: Any) -> Checkpointer | None:
    """The checkpointer of one model's training (``<checkpoint_dir>/<name>.safetensors``; ``config``
    a :class:`~practical_dl.core.config.TrainConfig` or :class:`~practical_dl.methods.gan.settings.GANConfig`), or None
    when ``checkpoint_every`` is 0. Its fingerprint covers the training settings and ``identity``
    (model parameters, data, statistics, ...): a checkpoint of other settings is not resumed."""
    if config.checkpoint_every == 0:
        return None
    settings = {k: v for k, v in config.to_dict().items() if k not in NOT_IN_FINGERPRINT}
    return Checkpointer(
        Path(config.checkpoint_dir) / f"{name}.safetensors",
        config.checkpoint_every,
        settings_fingerprint(settings, *identity),
        config.checkpoint_seconds,
    )


def data_identity(images: np.ndarray, labels: np.ndarray) -> str:
    """A short digest of a training set (its bytes), for a checkpoint's fingerprint."""
    digest = hashlib.sha256(np.ascontiguousarray(labels).tobytes())
    digest.update(np.ascontiguousarray(images).tobytes())
    return f"{images.shape}:{digest.hexdigest()[:16]}"


def tensors_identity(state: dict[str, torch.Tensor]) -> str:
    """A short digest of a state dict's tensors (e.g. pre-trained weights), for a checkpoint's fingerprint."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def file_identity(path: str | Path) -> str:
    """A short digest of a file's bytes (e.g. a weights file), for a checkpoint's fingerprint."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:16]

"""One model's parameter blocks -> its network, training configuration, training data and
checkpointer, with errors that name the parameter at fault. Used by the nodes and by the hook
that checks parameters before a run."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from practical_dl.core.augment import AugmentConfig, build_augmentation, materialise
from practical_dl.core.checkpoint import Checkpointer, settings_fingerprint
from practical_dl.core.config import TrainConfig
from practical_dl.core.params import deep_merge
from practical_dl.core.standardise import Standardiser
from practical_dl.methods.attacks import AdversarialTraining
from practical_dl.models.networks import MODEL_REGISTRY, build_model


def training_config(defaults: dict[str, Any] | None, overrides: dict[str, Any] | None, where: str) -> TrainConfig:
    """``training_defaults`` updated with a model's own ``training`` block (nested blocks such as
    ``adversarial`` merged key by key, see :func:`~practical_dl.core.params.deep_merge`)."""
    config = TrainConfig.from_dict(deep_merge(defaults, overrides), where=where)
    training_adversary(config, where)  # checks the adversarial block, if any
    return config


def training_adversary(config: TrainConfig, where: str = "training") -> AdversarialTraining | None:
    """The adversarial examples mixed into training batches, when ``adversarial`` is set."""
    if config.adversarial is None:
        return None
    if not isinstance(config.adversarial, dict):
        raise ValueError(f"parameter {where}.adversarial must be a mapping (epsilon, fraction, attack, ...), got {config.adversarial!r}")
    return AdversarialTraining.from_dict(config.adversarial, where=f"{where}.adversarial")


def model_from_params(model_params: dict[str, Any], where: str, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """Build the model described by a ``model`` parameter block::

    model:
      name: simplenet          # a key of practical_dl.models.networks.MODEL_REGISTRY
      label: SimpLeNet         # how reports name it
      options: {dropout: 0.0}  # keyword arguments of the architecture
    """
    if not isinstance(model_params, dict) or "name" not in model_params:
        raise ValueError(f"parameter {where} must be a mapping with a 'name' (one of {sorted(MODEL_REGISTRY)})")
    name = model_params["name"]
    if name not in MODEL_REGISTRY:
        raise ValueError(f"parameter {where}.name: unknown model name {name!r}; known models: {sorted(MODEL_REGISTRY)}")
    options = dict(model_params.get("options") or {})
    options.setdefault("num_classes", int(model_params.get("num_classes", 10)))
    try:
        return build_model(name, in_channels=in_channels, image_size=image_size, **options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"parameter {where}.options: cannot build {name!r}: {exc}") from None


def state_dict_for_saving(model: nn.Module) -> dict[str, torch.Tensor]:
    """CPU, contiguous copies of a model's tensors, as safetensors requires."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def input_standardiser(config: TrainConfig, stats: dict, channels: int) -> Standardiser:
    """The standardiser a model is trained and evaluated with: the training split's statistics,
    or only the [0, 1] scaling when ``standardise`` is off."""
    return Standardiser.from_stats(stats) if config.standardise else Standardiser.identity(channels, scale=float(stats.get("scale", 255.0)))


def augmentation_config(config: TrainConfig, augmentation_params: dict[str, Any] | None, where: str = "training") -> AugmentConfig | None:
    """The augmentation a model trains with: none when its ``augment`` is false, the shared
    ``augmentation`` block when it is true, and that block with some settings changed when it is
    a mapping (``augment: {rotation_degrees: 5}``: a weaker augmentation for a short recipe).
    Errors name the parameter (``<where>.augment.<setting>``)."""
    if config.augment is False:
        return None
    if config.augment is True:
        return AugmentConfig.from_dict(augmentation_params)
    return AugmentConfig.from_dict(deep_merge(augmentation_params, config.augment), where=f"{where}.augment")


def training_data(
    split: dict[str, np.ndarray], config: TrainConfig, augmentation_params: dict[str, Any] | None, where: str = "training"
) -> tuple[np.ndarray, np.ndarray, nn.Module | None]:
    """Training images and labels, and the on-device augmentation to apply to them
    (:func:`augmentation_config`).

    With augmentation: ``on_the_fly`` returns the kornia transforms (new draws every epoch);
    ``materialise`` returns a k-times enlarged set drawn once, and no transform.
    """
    images, labels = split["images"], split["labels"]
    aug = augmentation_config(config, augmentation_params, where)
    if aug is None:
        return images, labels, None
    if aug.mode == "materialise":
        images, labels = materialise(images, labels, aug)
        return images, labels, None
    return images, labels, build_augmentation(aug)


#: Settings that do not change what training computes, left out of a checkpoint's fingerprint.
NOT_IN_FINGERPRINT = ("progress", "resume", "checkpoint_every", "checkpoint_dir", "distributed_backend")


def training_checkpointer(config: Any, name: str, *identity: Any) -> Checkpointer | None:
    """The checkpointer of one model's training (``<checkpoint_dir>/<name>.safetensors``; ``config``
    a :class:`~practical_dl.core.config.TrainConfig` or :class:`~practical_dl.methods.gan.training.GANConfig`), or None
    when ``checkpoint_every`` is 0. Its fingerprint covers the training settings and ``identity``
    (model parameters, data, statistics, ...): a checkpoint of other settings is not resumed."""
    if config.checkpoint_every == 0:
        return None
    settings = {k: v for k, v in config.to_dict().items() if k not in NOT_IN_FINGERPRINT}
    return Checkpointer(
        Path(config.checkpoint_dir) / f"{name}.safetensors", config.checkpoint_every, settings_fingerprint(settings, *identity)
    )


def data_identity(images: np.ndarray, labels: np.ndarray) -> str:
    """A short digest of a training set (its bytes), for a checkpoint's fingerprint."""
    digest = hashlib.sha256(np.ascontiguousarray(labels).tobytes())
    digest.update(np.ascontiguousarray(images).tobytes())
    return f"{images.shape}:{digest.hexdigest()[:16]}"

"""Nodes of the ``transfer_learning`` pipeline."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from practical_dl.core.config import TrainConfig
from practical_dl.core.engine import fit, predict
from practical_dl.core.params import deep_merge
from practical_dl.core.runtime import set_seed
from practical_dl.core.splits import Split, per_class_subset
from practical_dl.core.standardise import Standardiser
from practical_dl.methods.transfer import STRATEGIES, ProjectVGG, build_transfer_model, describe, set_backbone_lr_factor
from practical_dl.pipelines.transfer_learning.figures import transfer_figure
from practical_dl.project.parameter_checks import register_check
from practical_dl.project.tracking import EpochMetrics, member_run
from practical_dl.project.training_setup import state_dict_for_saving, training_config

logger = logging.getLogger(__name__)


def _classes_subset(split: Split, classes: list[int]) -> Split:
    """The images of ``classes``, labels remapped to 0..len(classes)-1 in the order given."""
    mapping = np.full(256, -1, dtype=np.int64)
    mapping[np.asarray(classes)] = np.arange(len(classes))
    keep = mapping[split["labels"]] >= 0
    return {"images": split["images"][keep], "labels": mapping[split["labels"][keep]].astype(np.uint8)}


def check_transfer_parameters(params: dict[str, Any]) -> None:
    source, target = params.get("source_classes") or [], params.get("target_classes") or []
    if len(source) < 2 or len(target) < 2:
        raise ValueError("parameters transfer_learning.source_classes and target_classes need two classes or more each")
    if set(source) & set(target):
        raise ValueError(f"transfer_learning.source_classes and target_classes overlap: {sorted(set(source) & set(target))}")
    for budget in params.get("budgets") or []:
        if budget != "all" and (isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0):
            raise ValueError(f"transfer_learning.budgets holds {budget!r}: use positive integers (images per class) or 'all'")
    for strategy in params.get("strategies") or []:
        if strategy not in STRATEGIES:
            raise ValueError(f"transfer_learning.strategies holds unknown strategy {strategy!r}; known: {list(STRATEGIES)}")


register_check("transfer_learning", lambda p: check_transfer_parameters(p.get("transfer_learning") or {}))


def make_source_task(train_split: Split, params: dict[str, Any]) -> Split:
    """The source task alone (its digits from the train split), when the target comes from elsewhere."""
    check_transfer_parameters(params)
    return _classes_subset(train_split, params["source_classes"])


def make_transfer_tasks(train_split: Split, test_split: Split, params: dict[str, Any]) -> tuple[Split, Split, Split]:
    """The offline default experiment: the source task is some digits, the target task others
    (labels remapped to 0..k-1), its test set the test split's images of those digits."""
    check_transfer_parameters(params)
    source = _classes_subset(train_split, params["source_classes"])
    target_train = _classes_subset(train_split, params["target_classes"])
    target_test = _classes_subset(test_split, params["target_classes"])
    logger.info(
        "Source task %s: %d images; target task %s: %d training, %d test images",
        params["source_classes"],
        len(source["labels"]),
        params["target_classes"],
        len(target_train["labels"]),
        len(target_test["labels"]),
    )
    return source, target_train, target_test


def images_from_folders(partitions: dict[str, Any], params: dict[str, Any]) -> Split:
    """A split from a folder of class-named subfolders (a ``PartitionedDataset`` of images):
    ``cat/001.png`` is an image of class ``cat``. Classes are numbered in sorted order; images
    are converted to ``target.channels`` (1: grey, 3: RGB) and resized to ``target.image_size``."""
    from PIL import Image

    target = params.get("target") or {}
    channels, size = int(target.get("channels", 3)), int(target.get("image_size", 64))
    if channels not in (1, 3):
        raise ValueError(f"parameter transfer_learning.target.channels must be 1 or 3, got {channels}")
    if not partitions:
        raise ValueError("the image folder of the target task is empty")
    classes = sorted({key.replace("\\", "/").split("/")[0] for key in partitions})
    if len(classes) < 2 or any("/" not in key.replace("\\", "/") for key in partitions):
        raise ValueError(f"expected class-named subfolders holding the images; found {classes[:5]} at the top level")
    index = {name: i for i, name in enumerate(classes)}
    images, labels = [], []
    for key in sorted(partitions):
        image = partitions[key]()
        image = image.convert("L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
        images.append(array[None] if channels == 1 else array.transpose(2, 0, 1))
        labels.append(index[key.replace("\\", "/").split("/")[0]])
    logger.info("Image folder: %d images of %d classes %s", len(labels), len(classes), classes)
    return {"images": np.stack(images), "labels": np.asarray(labels, dtype=np.uint8)}


def pretrain_source_model(source_train: Split, params: dict[str, Any], training_defaults: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Train the project's VGG-style network on the source task (done once, then reused)."""
    config = training_config(training_defaults, params.get("pretraining"), where="transfer_learning.pretraining")
    images = source_train["images"]
    set_seed(config.seed)
    model = ProjectVGG(
        num_classes=int(source_train["labels"].max()) + 1,
        in_channels=images.shape[1],
        widths=tuple(params["backbone"].get("widths", (32, 64, 128))),
        image_size=images.shape[-1],
    )
    result = fit(model, (images, source_train["labels"]), None, _data_standardiser(source_train), config, name="source task")
    logger.info("Source task: final training accuracy %.4f", result.history[-1]["train_accuracy"])
    return state_dict_for_saving(result.model)


def _data_standardiser(split: Split) -> Standardiser:
    from practical_dl.core.standardise import channel_statistics

    return Standardiser.from_stats(channel_statistics(split["images"]))


def train_transfer_run(
    target_train: Split,
    target_test: Split,
    source_weights: dict[str, torch.Tensor],
    params: dict[str, Any],
    training_defaults: dict[str, Any],
    *,
    strategy: str,
    budget: int | str,
) -> dict[str, Any]:
    """One strategy on one labelled-data budget, in a child MLflow run; scored on the target test set."""
    backbone = params["backbone"]
    overrides = deep_merge(params.get("training") or {}, (params.get("strategy_training") or {}).get(strategy))
    steps = int(overrides.pop("steps", 300))
    backbone_lr_factor = float(overrides.pop("backbone_lr_factor", 1.0))
    seed = int(params.get("seed", 0))
    data = per_class_subset(target_train, budget, seed)
    n = len(data["labels"])
    batch = int(overrides.get("batch_size", training_defaults.get("batch_size", 128)))
    overrides["epochs"] = max(1, math.ceil(steps * batch / n))
    where = f"transfer_learning.strategy_training.{strategy}"
    config: TrainConfig = training_config(training_defaults, overrides, where=where)
    num_classes = int(target_train["labels"].max()) + 1
    set_seed(config.seed)
    model, own_stats = build_transfer_model(
        backbone["name"],
        strategy,
        num_classes,
        in_channels=data["images"].shape[1],
        image_size=data["images"].shape[-1],
        source_state=source_weights if backbone["name"] == "project_vgg" else None,
        weights=backbone.get("weights"),
        weights_path=backbone.get("weights_path"),
        input_size=backbone.get("input_size"),
        project_widths=tuple(backbone.get("widths", (32, 64, 128))),
        head=backbone.get("head", "last"),
    )
    if strategy == "fine_tune" and backbone_lr_factor != 1.0:
        set_backbone_lr_factor(model, backbone_lr_factor)
    standardiser = _data_standardiser(target_train) if own_stats else Standardiser.identity(data["images"].shape[1])
    name = f"{strategy}/{budget}"
    tags = {"experiment": "transfer_learning", "strategy": strategy, "budget": str(budget), "backbone": backbone["name"]}
    with member_run(
        name, tags, {"training": config.to_dict(), "backbone": backbone, "images": n, "backbone_lr_factor": backbone_lr_factor}
    ) as run:
        result = fit(model, (data["images"], data["labels"]), None, standardiser, config, name=name, callbacks=[EpochMetrics()])
        if result.diverged:
            run.mark_diverged(result.divergence_reason)
        logits = predict(result.model, target_test["images"], standardiser, device=config.device)
        accuracy = float((logits.argmax(1).numpy() == target_test["labels"]).mean())
        run.log_metrics({"target_test_accuracy": accuracy})
    logger.info("%s (%d labelled images, %d epochs): target test accuracy %.2f%%", name, n, config.epochs, 100 * accuracy)
    return {
        "strategy": strategy,
        "budget": budget,
        "labelled_images": n,
        "per_class": n // num_classes,
        "epochs": config.epochs,
        "target_test_accuracy": accuracy,
        "diverged": result.diverged,
        "mlflow_run_id": run.run_id,
        **describe(result.model),
    }


def report_transfer(*results: dict[str, Any]) -> tuple[pd.DataFrame, str, Figure]:
    """Target test accuracy against labelled images per class, one line per strategy."""
    table = pd.DataFrame(results).sort_values(["strategy", "labelled_images"])
    wide = table.pivot_table(index="per_class", columns="strategy", values="target_test_accuracy").mul(100).round(2)
    markdown = (
        "# Transfer learning: target test accuracy (%) against labelled images per class\n\n"
        + wide.to_markdown()
        + "\n\n## All runs\n\n"
        + table.drop(columns=["mlflow_run_id"]).to_markdown(index=False)
        + "\n"
    )
    return table, markdown, transfer_figure(table)

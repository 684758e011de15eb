"""Nodes of the ``transfer_learning`` pipeline."""

from __future__ import annotations

import logging
import math
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator, model_validator

from practical_dl.core.params import IncreasingList, NonNegativeFloat, NonNegativeInt, PositiveInt, Settings, deep_merge, plain
from practical_dl.core.splits import Split, per_class_subset
from practical_dl.methods.transfer_settings import BACKBONES, HEADS, STRATEGIES
from practical_dl.pipelines.transfer_learning.claims import (
    accuracy_by_seed,
    mean_std_table,
    spread_metrics,
    spread_over_seeds,
    transfer_claims,
)
from practical_dl.pipelines.transfer_learning.figures import transfer_figure
from practical_dl.project.parameters import TrainingOverrides, TrainingSettings, training_settings
from practical_dl.project.reporting import Report

if TYPE_CHECKING:  # torch is imported when the node runs, not when the pipeline is built
    import torch

    from practical_dl.core.standardise import Standardiser
    from practical_dl.project.trainer import Network

logger = logging.getLogger(__name__)

#: Two or more classes (labels of the digits data set).
Classes = Annotated[list[NonNegativeInt], Field(min_length=2)]


def _budget_message(value: Any, handler: Any) -> Any:
    try:
        return handler(value)
    except ValidationError:
        raise ValueError("must be a positive integer (images per class) or 'all'") from None


#: Labelled target images per class, or ``all`` of them (one message for both branches).
Budget = Annotated[PositiveInt | Literal["all"], WrapValidator(_budget_message)]


class TransferTarget(Settings):
    """``transfer_learning.target``: where the target task's images come from."""

    source: Literal["digits", "folders"] = "digits"
    """digits: target_classes of MNIST; folders: your images (see catalog.yml)."""
    channels: Literal[1, 3] = 3
    """folders: 1 (grey) or 3 (RGB)."""
    image_size: PositiveInt = 64
    """folders: images are resized to this."""


class TransferBackbone(Settings):
    """``transfer_learning.backbone``: the network whose features are transferred."""

    name: Literal[BACKBONES]
    """project_vgg (pre-trained here on the source task) | vgg16 | resnet18."""
    weights: str | None = None
    """torchvision backbones: e.g. IMAGENET1K_V1 (torch hub cache or download)."""
    weights_path: str | None = None
    """Or a local weights file (.safetensors or a state-dict .pth)."""
    input_size: PositiveInt | None = None
    """torchvision backbones: resize to this (default: the weights' own)."""
    widths: Annotated[list[PositiveInt], Field(min_length=1)] = [32, 64, 128]
    """project_vgg's block widths."""
    head: Literal[HEADS] = "last"
    """What is replaced: classifier (all fully-connected layers) | last (the last one only)."""


class TransferTrainingOverrides(TrainingOverrides):
    """A target run's ``training`` settings over ``training_defaults``, with the transfer runs' own two."""

    steps: PositiveInt | None = None
    """Optimisation steps per run, whatever the budget (default 300)."""
    backbone_lr_factor: NonNegativeFloat | None = None
    """fine_tune: the backbone trains at this times the learning rate (default 1)."""


class TransferLearningParameters(Settings):
    """The ``transfer_learning`` block: strategies x labelled-data budgets (x seeds) on a target task."""

    source_classes: Classes
    """The source task's digits."""
    target_classes: Classes
    """The target task's digits (labels remapped to 0..k-1)."""
    budgets: list[Budget] = []
    """Labelled target images per class, or all."""
    strategies: list[Literal[STRATEGIES]] = []
    seeds: IncreasingList[NonNegativeInt] = [0]
    """Each draws a run's labelled images and seeds the run (new layers, batch order; over training.seed)."""
    repeat_budgets: list[Budget] = []
    """Budgets run once per seed (reported as mean ± standard deviation); the others once, on the first seed."""
    target: TransferTarget = Field(default_factory=TransferTarget)
    backbone: TransferBackbone
    pretraining: TrainingOverrides | None = None
    """The source task (over training_defaults)."""
    training: TransferTrainingOverrides | None = None
    """Every target run (over training_defaults)."""
    strategy_training: dict[Literal[STRATEGIES], TransferTrainingOverrides | None] = {}
    """Each strategy's runs (over training)."""

    @model_validator(mode="after")
    def _disjoint(self) -> TransferLearningParameters:
        overlap = sorted(set(self.source_classes) & set(self.target_classes))
        if overlap:
            raise ValueError(f"source_classes and target_classes overlap: {overlap}")
        unknown = [b for b in self.repeat_budgets if b not in self.budgets]
        if unknown:
            raise ValueError(f"repeat_budgets {unknown} are not among the budgets {self.budgets}")
        return self

    def seeds_of(self, budget: int | str) -> list[int]:
        """The seeds ``budget`` runs on: every seed where it is repeated, else the first."""
        return list(self.seeds) if budget in self.repeat_budgets else list(self.seeds[:1])


class TransferRunSummary(BaseModel):
    """What one strategy on one budget hands on to the report (saved as JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str
    budget: int | str
    seed: int
    labelled_images: int
    per_class: int
    epochs: int
    target_test_accuracy: float
    diverged: bool
    mlflow_run_id: str | None
    trainable_parameters: int
    parameters: int


def _classes_subset(split: Split, classes: list[int]) -> Split:
    """The images of ``classes``, labels remapped to 0..len(classes)-1 in the order given."""
    mapping = np.full(256, -1, dtype=np.int64)
    mapping[np.asarray(classes)] = np.arange(len(classes))
    keep = mapping[split["labels"]] >= 0
    return {"images": split["images"][keep], "labels": mapping[split["labels"][keep]].astype(np.uint8)}


def make_source_task(train_split: Split, params: TransferLearningParameters) -> Split:
    """The source task alone (its digits from the train split), when the target comes from elsewhere."""
    return _classes_subset(train_split, params.source_classes)


def make_transfer_tasks(train_split: Split, test_split: Split, params: TransferLearningParameters) -> tuple[Split, Split, Split]:
    """The offline default experiment: the source task is some digits, the target task others
    (labels remapped to 0..k-1), its test set the test split's images of those digits."""
    source = _classes_subset(train_split, params.source_classes)
    target_train = _classes_subset(train_split, params.target_classes)
    target_test = _classes_subset(test_split, params.target_classes)
    logger.info(
        "Source task %s: %d images; target task %s: %d training, %d test images",
        params.source_classes,
        len(source["labels"]),
        params.target_classes,
        len(target_train["labels"]),
        len(target_test["labels"]),
    )
    return source, target_train, target_test


def images_from_folders(partitions: dict[str, Any], params: TransferLearningParameters) -> Split:
    """A split from a folder of class-named subfolders (a ``PartitionedDataset`` of images):
    ``cat/001.png`` is an image of class ``cat``. Classes are numbered in sorted order; images
    are converted to ``target.channels`` (1: grey, 3: RGB) and resized to ``target.image_size``."""
    from PIL import Image

    channels, size = params.target.channels, params.target.image_size
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


def pretrain_source_model(
    source_train: Split, params: TransferLearningParameters, training_defaults: TrainingSettings
) -> dict[str, np.ndarray]:
    """Train the project's VGG-style network on the source task (done once, then reused).

    Its weights as numpy arrays: the catalog keeps them in safetensors' numpy form, which the
    catalog can open without importing torch (kedro-mlflow opens every named dataset before a run).
    """
    from practical_dl.methods.transfer import ProjectVGG
    from practical_dl.project.trainer import Network, RunIdentity, TrainingData, train_classifier
    from practical_dl.project.training_setup import state_dict_for_saving

    config = training_settings(training_defaults, params.pretraining, where="transfer_learning.pretraining")
    classes = int(source_train["labels"].max()) + 1
    widths = tuple(params.backbone.widths)
    network = Network(
        lambda channels, size: ProjectVGG(num_classes=classes, in_channels=channels, widths=widths, image_size=size),
        {"name": "project_vgg", "num_classes": classes, "widths": list(widths)},
    )
    data = TrainingData(source_train, None, _data_standardiser(source_train))
    who = RunIdentity(
        name="source_task", label="source task", checkpoint="transfer_learning/source_task", where="transfer_learning.pretraining"
    )
    result = train_classifier(network, data, config, who).fit
    logger.info("Source task: final training accuracy %.4f", result.history[-1]["train_accuracy"])
    return {key: tensor.numpy() for key, tensor in state_dict_for_saving(result.model).items()}


def _accuracy(test: Split, config: TrainingSettings, model: torch.nn.Module, standardiser: Standardiser, fit: Any) -> dict[str, float]:
    """A target run's accuracy on the target task's test images."""
    from practical_dl.core.engine import predict

    logits = predict(model, test["images"], standardiser, device=config.device)
    return {"target_test_accuracy": float((logits.argmax(1).numpy() == test["labels"]).mean())}


def _run_settings(
    params: TransferLearningParameters, training_defaults: TrainingSettings, strategy: str, images: int, seed: int
) -> tuple[TrainingSettings, float]:
    """A target run's settings (``steps`` turned into epochs of ``images``, its ``seed``) and its backbone's learning-rate factor."""
    overrides = deep_merge(plain(params.training), plain(params.strategy_training.get(strategy)))
    steps = int(overrides.pop("steps", 300))
    backbone_lr_factor = float(overrides.pop("backbone_lr_factor", 1.0))
    batch = int(overrides.get("batch_size", training_defaults.batch_size))
    overrides["epochs"] = max(1, math.ceil(steps * batch / images))
    overrides["seed"] = seed
    config = training_settings(training_defaults, overrides, where=f"transfer_learning.strategy_training.{strategy}")
    return config, backbone_lr_factor


def _target_network(
    params: TransferLearningParameters,
    strategy: str,
    num_classes: int,
    source_weights: dict[str, torch.Tensor],
    backbone_lr_factor: float,
) -> Network:
    """The network of one target run, and what it is (the source weights' digest included, so a
    checkpoint made from other source weights is not resumed)."""
    from practical_dl.project.trainer import Network
    from practical_dl.project.training_setup import file_identity, tensors_identity

    pretrained_here = params.backbone.name == "project_vgg" and strategy != "scratch"
    spec = {
        "backbone": params.backbone.model_dump(),
        "strategy": strategy,
        "num_classes": num_classes,
        "backbone_lr_factor": backbone_lr_factor,
        "source_weights": tensors_identity(source_weights) if pretrained_here else None,
        "weights_file": file_identity(params.backbone.weights_path) if params.backbone.weights_path else None,
    }
    return Network(partial(_transfer_network, params, strategy, num_classes, source_weights, backbone_lr_factor), spec)


def _transfer_network(
    params: TransferLearningParameters,
    strategy: str,
    num_classes: int,
    source_weights: dict[str, torch.Tensor],
    backbone_lr_factor: float,
    channels: int,
    image_size: int,
) -> torch.nn.Module:
    from practical_dl.methods.transfer import build_transfer_model, set_backbone_lr_factor

    backbone = params.backbone
    model, _ = build_transfer_model(
        backbone.name,
        strategy,
        num_classes,
        in_channels=channels,
        image_size=image_size,
        source_state=source_weights if backbone.name == "project_vgg" else None,
        weights=backbone.weights,
        weights_path=backbone.weights_path,
        input_size=backbone.input_size,
        project_widths=tuple(backbone.widths),
        head=backbone.head,
    )
    if strategy == "fine_tune" and backbone_lr_factor != 1.0:
        set_backbone_lr_factor(model, backbone_lr_factor)
    return model


def _data_standardiser(split: Split) -> Standardiser:
    from practical_dl.core.standardise import Standardiser, channel_statistics

    return Standardiser.from_stats(channel_statistics(split["images"]))


def train_transfer_run(
    target_train: Split,
    target_test: Split,
    source_weights: dict[str, np.ndarray],
    params: TransferLearningParameters,
    training_defaults: TrainingSettings,
    *,
    strategy: str,
    budget: int | str,
    seed: int,
) -> TransferRunSummary:
    """One strategy on one labelled-data budget and one seed, in a child MLflow run; scored on the target test set.

    The seed draws the labelled images (the same for every strategy) and seeds the run: the new
    layers' initialisation (the whole network's, from scratch) and the order of the batches."""
    import torch

    from practical_dl.core.standardise import Standardiser
    from practical_dl.methods.transfer import describe
    from practical_dl.project.trainer import RunIdentity, TrainingData, train_classifier

    backbone = params.backbone
    source_weights = {key: torch.from_numpy(np.array(array)) for key, array in source_weights.items()}  # writable copies
    data = per_class_subset(target_train, budget, seed)
    n = len(data["labels"])
    config, backbone_lr_factor = _run_settings(params, training_defaults, strategy, n, seed)
    num_classes = int(target_train["labels"].max()) + 1
    own_stats = backbone.name == "project_vgg"  # torchvision backbones normalise inputs themselves
    standardiser = _data_standardiser(target_train) if own_stats else Standardiser.identity(data["images"].shape[1])
    name = f"{strategy}/{budget}/s{seed}"
    who = RunIdentity(
        name=name,
        tags={
            "experiment": "transfer_learning",
            "strategy": strategy,
            "budget": str(budget),
            "seed": str(seed),
            "backbone": backbone.name,
        },
        params={
            "backbone": backbone.model_dump(exclude_unset=True),  # the block as the parameters give it
            "backbone_lr_factor": backbone_lr_factor,
        },
        count_param="images",
        metric_keys=None,
        checkpoint=f"transfer_learning/{name}",
        where=f"transfer_learning.strategy_training.{strategy}",
    )
    network = _target_network(params, strategy, num_classes, source_weights, backbone_lr_factor)
    trained = train_classifier(
        network, TrainingData(data, None, standardiser), config, who, evaluate=partial(_accuracy, target_test, config)
    )
    accuracy = trained.scores["target_test_accuracy"]
    result = trained.fit
    logger.info("%s (%d labelled images, %d epochs): target test accuracy %.2f%%", name, n, config.epochs, 100 * accuracy)
    return TransferRunSummary(
        strategy=strategy,
        budget=budget,
        seed=seed,
        labelled_images=n,
        per_class=n // num_classes,
        epochs=config.epochs,
        target_test_accuracy=accuracy,
        diverged=result.diverged,
        mlflow_run_id=trained.run_id,
        **describe(result.model),
    )


def _about(table: pd.DataFrame, summary: pd.DataFrame) -> str:
    """How the runs were repeated and what the table's cells and the verdicts are."""
    repeated = sorted(summary.loc[summary["n"] > 1, "per_class"].unique())
    seeds = sorted(table["seed"].unique())
    once = (
        f"Each strategy ran once per seed ({', '.join(map(str, seeds))}) with {', '.join(map(str, repeated))} labelled images "
        f"per class, once (seed {seeds[0]}) with more. "
        if repeated
        else f"Each strategy ran once per budget (seed {seeds[0]}). "
    )
    return (
        once + "A seed draws the labelled images (the same for every strategy) and seeds the run. Cells: the mean target test "
        "accuracy (%) ± its standard deviation over the seeds (n: the number of seeds). Transfer's gain over training from "
        "scratch is measured seed by seed; a claim holds only where the mean gain exceeds the standard deviation of the "
        "per-seed gains."
    )


def report_transfer(*results: TransferRunSummary) -> dict[str, Any]:
    """Target test accuracy against labelled images per class, one line per strategy, and the lecture's claims on it.

    Every run (``table``); per strategy and budget the mean accuracy ± its standard deviation over the
    seeds and n (``summary``, ``metrics`` for MLflow, the report's table and the figure's error bars);
    the claims' verdicts computed from them (:func:`~practical_dl.pipelines.transfer_learning.claims.transfer_claims`)."""
    table = pd.DataFrame([r.model_dump() for r in results]).sort_values(["strategy", "labelled_images", "seed"])
    by_seed = accuracy_by_seed(table)
    summary = spread_over_seeds(by_seed)
    report = Report(
        "Transfer learning: target test accuracy (%) against labelled images per class",
        about=_about(table, summary),
        claims=transfer_claims(by_seed),
        tables={
            "Target test accuracy (%): mean ± standard deviation over the seeds (n)": mean_std_table(summary),
            "All runs": table.drop(columns=["mlflow_run_id"]),
        },
        tables_first=True,
    )
    return {
        "table": table,
        "summary": summary.round({"mean": 2, "std": 2}),
        "report": report,
        "plot": transfer_figure(summary),
        "metrics": spread_metrics(summary),
    }

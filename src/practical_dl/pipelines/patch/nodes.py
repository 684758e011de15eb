"""Nodes of the ``patch`` pipeline (thin: the patch itself is in ``practical_dl.methods.patch``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from practical_dl.core.config import Device
from practical_dl.core.lazy import on_first_use
from practical_dl.core.params import IncreasingList, NonNegativeInt, PositiveInt, Settings
from practical_dl.core.splits import first_per_class, stratified_subset
from practical_dl.methods.attack_settings import AdversarialParameters
from practical_dl.methods.patch_settings import PatchConfig, PatchTraining
from practical_dl.pipelines.patch.claims import patch_claims
from practical_dl.pipelines.patch.figures import patch_success_figure
from practical_dl.project.figures import adversarial_examples_figure, image_rows_figure
from practical_dl.project.reporting import Report, metric_history

# imported when Kedro resolves the nodes' annotations before a run, or a node uses them: not when the pipeline is built
torch = on_first_use("torch")
classifier_module = on_first_use("practical_dl.models.classifier")

logger = logging.getLogger(__name__)


class PatchBar(Settings):
    """The issue's bar: a targeted success this high with a patch this small, on this model."""

    model: str
    """For this model a patch of max_size is also made for every class as the target."""
    max_size: PositiveInt
    success_percent: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]


class PatchExamples(Settings):
    """The grid of patched test digits."""

    per_class: PositiveInt = 1


class PatchParameters(Settings):
    """The ``patch`` block (``parameters_patch.yml``): a targeted patch of every size against every trained classifier."""

    models: list[str] | None = None
    """null: every model of ``trained_models``, then ``adversarial.robust_models``."""
    sizes: IncreasingList[PositiveInt]
    """Sides of the square patch, in pixels, increasing."""
    target: NonNegativeInt
    """The class every patch asks for."""
    training: PatchTraining = PatchTraining()
    train_images: Annotated[StrictInt, Field(ge=10)] | None = 10000
    """A seeded, stratified subset of the training split the patches are optimised on; null: all of it."""
    test_images: Annotated[StrictInt, Field(ge=10)] | None = 2000
    """... of the test split they are pasted on (the target's own digits left out); null: all of it."""
    seed: NonNegativeInt = 0
    """The subsets and the positions on the test digits."""
    bar: PatchBar | None = None
    examples: PatchExamples = PatchExamples()
    device: Device = "auto"

    @field_validator("training", mode="before")
    @classmethod
    def _not_size_or_target(cls, training: Any) -> Any:
        if isinstance(training, dict) and {"size", "target"} & set(training):
            raise ValueError("size and target are set by patch.sizes and patch.target; remove them")
        return training

    def configs(self, size: int | None = None, targets: list[int] | None = None) -> list[PatchConfig]:
        """One :class:`PatchConfig` per size of ``sizes`` (or per target of ``targets`` at ``size``)."""
        settings = self.training.model_dump()
        if targets is not None:
            return [PatchConfig(**settings, size=size, target=t) for t in targets]
        return [PatchConfig(**settings, size=s, target=self.target) for s in self.sizes]


class EveryTarget(BaseModel):
    """A patch of one size for every class as the target (the bar's model only): index ``t`` is the patch asking for ``t``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    size: int
    """The side of every patch, in pixels (``patch.bar.max_size``)."""
    success: list[float]
    """Per target class, the targeted success (a share, 0 to 1) on the test digits not of that class."""
    seconds: list[float]
    """Per target class, the seconds its patch took."""

    @model_validator(mode="after")
    def _one_of_each_per_target(self) -> EveryTarget:
        if len(self.seconds) != len(self.success):
            raise ValueError(f"{len(self.seconds)} timings for {len(self.success)} targets")
        return self


class PatchResult(BaseModel):
    """One classifier's targeted success under a patch of every size, as the report reads it (saved as JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    """The namespace of the attacked classifier (``simplenet``)."""
    label: str
    """How reports name it (``SimpLeNet``)."""
    target: int
    """The class every patch of ``sizes`` asks for."""
    sizes: list[int]
    """Sides of the square patches, in pixels, increasing."""
    success: list[float]
    """Per size, the share of the test digits (the target's own left out) the model calls ``target`` with the patch on."""
    random_patch_success: list[float]
    """... with a patch of random pixels of that size at the same positions instead."""
    already_target: float
    """The share of those test digits it calls ``target`` without a patch."""
    test_images: int
    """The test digits the patches are pasted on (the target's own left out)."""
    train_images: int
    """The training digits the patches are optimised on."""
    seconds: list[float]
    """Per size, the seconds its patch took to optimise and score."""
    every_target: EveryTarget | None
    """The bar's model only: a patch of the bar's size for every class as the target; None for the others."""
    training: PatchTraining
    """How every patch was optimised (``patch.training``)."""
    patches: dict[str, list[list[list[float]]]]
    """Per size (as a string), the optimised patch: C x size x size pixels in [0, 1], to 4 decimals."""

    @model_validator(mode="after")
    def _one_of_each_per_size(self) -> PatchResult:
        for name in ("success", "random_patch_success", "seconds"):
            if len(getattr(self, name)) != len(self.sizes):
                raise ValueError(f"{name}: {len(getattr(self, name))} values for {len(self.sizes)} sizes")
        return self


def patched_models(patch: PatchParameters, trained_models: list[str], adversarial: AdversarialParameters) -> list[str]:
    """``patch.models`` (default: every trained model, then the adversarial pipeline's robust models)."""
    models = patch.models or [*trained_models, *adversarial.robust_models]
    return list(dict.fromkeys(models))


def _as_uint8(images01: torch.Tensor) -> np.ndarray:
    """Images in [0, 1] as uint8 pixels on the CPU."""
    return (images01.detach().cpu().clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def _on_canvas(patch: torch.Tensor, side: int) -> torch.Tensor:
    """The patch in the middle of an empty ``side`` x ``side`` image: how big it is on a digit."""
    from practical_dl.methods.patch import paste

    canvas = torch.zeros(1, patch.shape[1], side, side)
    corner = (side - patch.shape[-1]) // 2
    return paste(canvas, patch.cpu(), torch.tensor([[corner, corner]]))


@dataclass(frozen=True)
class _Attacked:
    """One classifier under patch attack, with the digits its patches are optimised on and pasted on (images in [0, 1])."""

    net: classifier_module.DigitClassifier
    label: str
    side: int
    x_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    seed: int

    def success(self, found: torch.Tensor, target: int) -> float:
        """The share of the test digits (the target's own left out) the model calls ``target`` with ``found`` pasted on."""
        from practical_dl.methods.patch import targeted_success

        return targeted_success(self.net, self.x_test, self.y_test, found, target, self.seed)

    def optimised(self, config: PatchConfig) -> tuple[torch.Tensor, float, float]:
        """A patch optimised on the training digits, its targeted success on the test digits and the seconds it took."""
        from practical_dl.methods.patch import train_patch

        start = time.perf_counter()
        found = train_patch(self.net, self.x_train, config)
        return found, self.success(found, config.target), time.perf_counter() - start


def _attacked(
    classifier: classifier_module.DigitClassifier,
    train_split: dict[str, np.ndarray],
    test_split: dict[str, np.ndarray],
    patch: PatchParameters,
) -> _Attacked:
    """The classifier on ``patch.device`` and the seeded subsets of the splits, on the same device."""
    from practical_dl.core.runtime import resolve_device

    device = resolve_device(patch.device)
    net = classifier.to(device).eval().requires_grad_(False)  # takes images in [0, 1], standardises them itself
    scale = classifier.standardise.scale
    train = stratified_subset(train_split, patch.train_images, patch.seed)
    test = stratified_subset(test_split, patch.test_images, patch.seed)
    return _Attacked(
        net=net,
        label=classifier.label,
        side=classifier.input_shape[-1],
        x_train=(torch.from_numpy(train["images"]).float() / scale).to(device),
        x_test=(torch.from_numpy(test["images"]).float() / scale).to(device),
        y_test=torch.from_numpy(test["labels"].astype(np.int64)).to(device),
        seed=patch.seed,
    )


def attack_with_patches(
    classifier: classifier_module.DigitClassifier,
    train_split: dict[str, np.ndarray],
    test_split: dict[str, np.ndarray],
    patch: PatchParameters,
    *,
    model: str,
) -> tuple[PatchResult, Figure, Figure]:
    """A targeted patch of every size against one trained classifier, and its success on test digits.

    For the classifier of the namespace ``model``: each patch is optimised on training digits, and
    pasted at random positions on test digits — beside a patch of random pixels at the same
    positions; for the bar's model, a patch of the bar's size for every class as the target.
    Returns the result, a grid of patched test digits with the predictions, and the patches as images.
    """
    configs = patch.configs()
    target = configs[0].target
    side = classifier.input_shape[-1]
    classes = len(classifier.class_names)
    if target >= classes:
        raise ValueError(f"parameter patch.target is {target}, but {classifier.label} has {classes} classes")
    if configs[-1].size > side:
        raise ValueError(f"parameter patch.sizes: a {configs[-1].size}-pixel patch does not fit on {side}x{side} images")
    attacked = _attacked(classifier, train_split, test_split, patch)
    with torch.no_grad():
        others = attacked.x_test[attacked.y_test != target]
        already = float((attacked.net(others).argmax(1) == target).float().mean())
    patches, success, random_success, seconds = _patches_of_every_size(attacked, configs)
    every_target, every_target_patches = None, []
    if patch.bar is not None and patch.bar.model == model:
        every_target, every_target_patches = _patch_for_every_target(attacked, patch, classes)
    examples = _examples_figure(attacked, configs, patches, patch.examples.per_class)
    rows = [(f"asking for {target}", patches, [f"{c.size}x{c.size}: {100 * r:.1f}%" for c, r in zip(configs, success)])]
    if every_target is not None:
        size, rates = every_target.size, every_target.success
        rows.append((f"{size}x{size}, each class", every_target_patches, [f"asks {t}: {100 * r:.1f}%" for t, r in enumerate(rates)]))
    patches_plot = _patches_figure(attacked, rows)
    result = PatchResult(
        model=model,
        label=classifier.label,
        target=target,
        sizes=[c.size for c in configs],
        success=success,
        random_patch_success=random_success,
        already_target=already,
        test_images=int((attacked.y_test != target).sum()),
        train_images=len(attacked.x_train),
        seconds=seconds,
        every_target=every_target,
        training=patch.training.model_copy(),
        patches={str(c.size): np.round(found.cpu().numpy()[0], 4).tolist() for c, found in zip(configs, patches)},
    )
    return result, examples, patches_plot


def _patches_of_every_size(
    attacked: _Attacked, configs: list[PatchConfig]
) -> tuple[list[torch.Tensor], list[float], list[float], list[float]]:
    """A patch optimised for every config, its targeted success, that of a patch of random pixels, and the seconds."""
    patches, success, random_success, seconds = [], [], [], []
    for config in configs:
        found, rate, spent = attacked.optimised(config)
        noise = torch.rand(found.shape, generator=torch.Generator().manual_seed(attacked.seed)).to(attacked.x_test.device)
        patches.append(found)
        success.append(rate)
        random_success.append(attacked.success(noise, config.target))
        seconds.append(spent)
        logger.info(
            "%s, %dx%d patch asking for %d: %.1f%% targeted success on %d test digits (a random patch: %.1f%%; %.1fs)",
            attacked.label,
            config.size,
            config.size,
            config.target,
            100 * rate,
            int((attacked.y_test != config.target).sum()),
            100 * random_success[-1],
            spent,
        )
    return patches, success, random_success, seconds


def _patch_for_every_target(attacked: _Attacked, patch: PatchParameters, classes: int) -> tuple[EveryTarget, list[torch.Tensor]]:
    """A patch of the bar's size for every class as the target: their sizes, success and seconds, and the patches."""
    size, side = patch.bar.max_size, attacked.side
    if size > side:
        raise ValueError(f"parameter patch.bar.max_size: a {size}-pixel patch does not fit on {side}x{side} images")
    runs = [attacked.optimised(config) for config in patch.configs(size, list(range(classes)))]
    every_target = EveryTarget(size=size, success=[rate for _, rate, _ in runs], seconds=[s for _, _, s in runs])
    logger.info(
        "%s, a %dx%d patch for every class as the target: %s",
        attacked.label,
        size,
        size,
        ", ".join(f"{t}: {100 * rate:.1f}%" for t, (_, rate, _) in enumerate(runs)),
    )
    return every_target, [found for found, _, _ in runs]


def _examples_figure(attacked: _Attacked, configs: list[PatchConfig], patches: list[torch.Tensor], per_class: int) -> Figure:
    """Test digits, clean and with each patch at a random position, captioned with the predictions."""
    from practical_dl.methods.patch import paste, random_positions

    labels = attacked.y_test.cpu().numpy()
    picked = torch.from_numpy(first_per_class(labels, per_class)).to(attacked.x_test.device)
    rows = [("clean", attacked.x_test[picked])]
    for config, found in zip(configs, patches):
        where = random_positions(len(picked), attacked.side, config.size, torch.Generator().manual_seed(attacked.seed))
        rows.append((f"{config.size}x{config.size} patch", paste(attacked.x_test[picked], found, where)))
    with torch.no_grad():
        predictions = [attacked.net(images).argmax(1).cpu().numpy() for _, images in rows]
    return adversarial_examples_figure(
        [(name, _as_uint8(images), p) for (name, images), p in zip(rows, predictions)],
        labels[picked.cpu().numpy()],
        f"{attacked.label}: test digits with a patch asking for {configs[0].target} at a random position, "
        "and the predictions (red: not the digit)",
    )


def _patches_figure(attacked: _Attacked, rows: list[tuple[str, list[torch.Tensor], list[str]]]) -> Figure:
    """The patches, each on an empty image, one row per (title, patches, captions)."""
    on_canvas = [torch.cat([_on_canvas(found, attacked.side) for found in patches]) for _, patches, _ in rows]
    return image_rows_figure(
        [(title, _as_uint8(images), captions, None) for (title, _, captions), images in zip(rows, on_canvas)],
        f"{attacked.label}: the optimised patches (on an empty image) and their targeted success",
    )


def report_patches(patch: PatchParameters, adversarial: AdversarialParameters, *results: PatchResult) -> dict[str, Any]:
    """The table, the picture, the MLflow metric histories and the report of the patches against every model.

    The table has one row per model, one column per patch size; the histories' step is the patch's
    side; the report's claims check the bar and the lecture's claims (:func:`patch_claims`).
    """
    rows, metrics = [], {}
    for r in results:
        rows.append({"model": r.label} | {f"{s}x{s}": round(100 * a, 1) for s, a in zip(r.sizes, r.success)})
        metrics[f"{r.model}.targeted_success"] = metric_history(zip(r.sizes, r.success))
        metrics[f"{r.model}.random_patch_success"] = metric_history(zip(r.sizes, r.random_patch_success))
        if r.every_target is not None:
            metrics[f"{r.model}.every_target_success"] = metric_history(enumerate(r.every_target.success))
    table = pd.DataFrame(rows)
    report = Report(
        "An adversarial patch: targeted success (%) against the patch's side",
        about=_how_patches_are_measured(results[0] if results else None, patch),
        claims=patch_claims(patch, adversarial, results),
        tables={"Targeted success (%) of every model at every patch size": table},
        claims_heading="What the runs show",
        tables_first=True,
    )
    return {
        "table": table,
        "markdown": report,
        "plot": patch_success_figure(results, patch.bar.to_dict() if patch.bar is not None else {}),
        "metrics": metrics,
    }


def _how_patches_are_measured(first: PatchResult | None, patch: PatchParameters) -> str:
    """The report's paragraph on what the patch is and how its success is measured.

    The numbers are the first model's result's (without one: the parameters', and no digits).
    """
    if first is None:
        target, train_images, test_images, training = patch.target, 0, 0, patch.training
    else:
        target, train_images, test_images, training = first.target, first.train_images, first.test_images, first.training
    return "\n".join(
        [
            "The lecture's work in the field is about physical-world attacks — stickers on stop signs (Eykholt et al. 2018),",
            "printed eyeglass frames (Sharif et al. 2016): localised, visible patches that work wherever they are put, not",
            "the invisible L∞ noise of FGSM and PGD. Here a square patch asking for the class",
            f"**{target}** is optimised on {train_images} training digits by expectation over its placement",
            f"({training.steps} signed gradient steps; random positions, rotations up to ±{training.rotation_degrees}°,",
            f"scales {list(training.scale)}), then pasted unrotated at a random position on each of {test_images} test",
            f"digits that are not a {target}. Targeted success: the share of them the model then calls {target}.",
        ]
    )

"""Nodes of the ``patch`` pipeline (thin: the patch itself is in ``practical_dl.methods.patch``)."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from pydantic import Field, StrictInt, field_validator

from practical_dl.core.config import Device
from practical_dl.core.params import IncreasingList, NonNegativeInt, PositiveInt, Settings
from practical_dl.core.runtime import resolve_device
from practical_dl.core.splits import first_per_class, stratified_subset
from practical_dl.methods.attacks import AdversarialParameters
from practical_dl.methods.patch import PatchConfig, PatchTraining, paste, random_positions, targeted_success, train_patch
from practical_dl.models.classifier import DigitClassifier
from practical_dl.pipelines.patch.figures import patch_success_figure
from practical_dl.project.figures import adversarial_examples_figure, image_rows_figure
from practical_dl.project.reporting import metric_history, verdict

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


def patched_models(patch: PatchParameters, trained_models: list[str], adversarial: AdversarialParameters) -> list[str]:
    """``patch.models`` (default: every trained model, then the adversarial pipeline's robust models)."""
    models = patch.models or [*trained_models, *adversarial.robust_models]
    return list(dict.fromkeys(models))


def _as_uint8(images01: torch.Tensor) -> np.ndarray:
    return (images01.detach().cpu().clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def _on_canvas(patch: torch.Tensor, side: int) -> torch.Tensor:
    """The patch in the middle of an empty ``side`` x ``side`` image: how big it is on a digit."""
    canvas = torch.zeros(1, patch.shape[1], side, side)
    corner = (side - patch.shape[-1]) // 2
    return paste(canvas, patch.cpu(), torch.tensor([[corner, corner]]))


def attack_with_patches(
    classifier: DigitClassifier,
    train_split: dict[str, np.ndarray],
    test_split: dict[str, np.ndarray],
    patch: PatchParameters,
    *,
    model: str,
) -> tuple[dict[str, Any], Figure, Figure]:
    """For one trained classifier (the namespace ``model``): a targeted patch of every size,
    optimised on training digits, and its success pasted at random positions on test digits —
    beside a patch of random pixels at the same positions; for the bar's model, a patch of the
    bar's size for every class as the target. Returns the result, a grid of patched test digits
    with the predictions, and the patches as images."""
    configs = patch.configs()
    seed = patch.seed
    target = configs[0].target
    side = classifier.input_shape[-1]
    classes = len(classifier.class_names)
    if target >= classes:
        raise ValueError(f"parameter patch.target is {target}, but {classifier.label} has {classes} classes")
    if configs[-1].size > side:
        raise ValueError(f"parameter patch.sizes: a {configs[-1].size}-pixel patch does not fit on {side}x{side} images")
    device = resolve_device(patch.device)
    net = classifier.to(device).eval().requires_grad_(False)  # takes images in [0, 1], standardises them itself
    scale = classifier.standardise.scale
    train = stratified_subset(train_split, patch.train_images, seed)
    test = stratified_subset(test_split, patch.test_images, seed)
    x_train = (torch.from_numpy(train["images"]).float() / scale).to(device)
    x_test = (torch.from_numpy(test["images"]).float() / scale).to(device)
    y_test = torch.from_numpy(test["labels"].astype(np.int64)).to(device)
    with torch.no_grad():
        already = float((net(x_test[y_test != target]).argmax(1) == target).float().mean())

    def optimised(config: PatchConfig) -> tuple[torch.Tensor, float, float]:
        start = time.perf_counter()
        found = train_patch(net, x_train, config)
        return found, targeted_success(net, x_test, y_test, found, config.target, seed), time.perf_counter() - start

    patches, success, random_success, seconds = [], [], [], []
    for config in configs:
        found, rate, spent = optimised(config)
        noise = torch.rand(found.shape, generator=torch.Generator().manual_seed(seed)).to(device)
        patches.append(found)
        success.append(rate)
        random_success.append(targeted_success(net, x_test, y_test, noise, target, seed))
        seconds.append(spent)
        logger.info(
            "%s, %dx%d patch asking for %d: %.1f%% targeted success on %d test digits (a random patch: %.1f%%; %.1fs)",
            classifier.label,
            config.size,
            config.size,
            target,
            100 * rate,
            int((y_test != target).sum()),
            100 * random_success[-1],
            spent,
        )

    bar = patch.bar
    every_target = None
    if bar is not None and bar.model == model:
        size = bar.max_size
        if size > side:
            raise ValueError(f"parameter patch.bar.max_size: a {size}-pixel patch does not fit on {side}x{side} images")
        runs = [optimised(config) for config in patch.configs(size, list(range(classes)))]
        every_target = {"size": size, "success": [rate for _, rate, _ in runs], "seconds": [s for _, _, s in runs]}
        logger.info(
            "%s, a %dx%d patch for every class as the target: %s",
            classifier.label,
            size,
            size,
            ", ".join(f"{t}: {100 * rate:.1f}%" for t, (_, rate, _) in enumerate(runs)),
        )
        every_target_patches = [found for found, _, _ in runs]

    labels = test["labels"].astype(np.int64)
    per_class = patch.examples.per_class
    picked = torch.from_numpy(first_per_class(labels, per_class)).to(device)
    rows = [("clean", x_test[picked])]
    for config, found in zip(configs, patches):
        where = random_positions(len(picked), side, config.size, torch.Generator().manual_seed(seed))
        rows.append((f"{config.size}x{config.size} patch", paste(x_test[picked], found, where)))
    with torch.no_grad():
        predictions = [net(images).argmax(1).cpu().numpy() for _, images in rows]
    examples = adversarial_examples_figure(
        [(name, _as_uint8(images), p) for (name, images), p in zip(rows, predictions)],
        labels[picked.cpu().numpy()],
        f"{classifier.label}: test digits with a patch asking for {target} at a random position, and the predictions (red: not the digit)",
    )
    rows = [
        (
            f"asking for {target}",
            _as_uint8(torch.cat([_on_canvas(found, side) for found in patches])),
            [f"{c.size}x{c.size}: {100 * r:.1f}%" for c, r in zip(configs, success)],
            None,
        )
    ]
    if every_target is not None:
        rows.append(
            (
                f"{every_target['size']}x{every_target['size']}, each class",
                _as_uint8(torch.cat([_on_canvas(found, side) for found in every_target_patches])),
                [f"asks {t}: {100 * r:.1f}%" for t, r in enumerate(every_target["success"])],
                None,
            )
        )
    patches_plot = image_rows_figure(rows, f"{classifier.label}: the optimised patches (on an empty image) and their targeted success")
    result = {
        "model": model,
        "label": classifier.label,
        "target": target,
        "sizes": [c.size for c in configs],
        "success": success,
        "random_patch_success": random_success,
        "already_target": already,
        "test_images": int((y_test != target).sum()),
        "train_images": int(len(x_train)),
        "seconds": seconds,
        "every_target": every_target,
        "training": {k: v for k, v in configs[0].to_dict().items() if k not in ("size", "target")},
        "patches": {str(c.size): np.round(found.cpu().numpy()[0], 4).tolist() for c, found in zip(configs, patches)},
    }
    return result, examples, patches_plot


def report_patches(patch: PatchParameters, adversarial: AdversarialParameters, *results: dict[str, Any]) -> dict[str, Any]:
    """The table (one row per model, one column per patch size), the picture, the MLflow metric
    histories (step = the patch's side) and a report that checks the bar and the claims."""
    rows, metrics = [], {}
    for r in results:
        rows.append({"model": r["label"]} | {f"{s}x{s}": round(100 * a, 1) for s, a in zip(r["sizes"], r["success"])})
        metrics[f"{r['model']}.targeted_success"] = metric_history(zip(r["sizes"], r["success"]))
        metrics[f"{r['model']}.random_patch_success"] = metric_history(zip(r["sizes"], r["random_patch_success"]))
        if r.get("every_target"):
            metrics[f"{r['model']}.every_target_success"] = metric_history(enumerate(r["every_target"]["success"]))
    table = pd.DataFrame(rows)
    first = results[0] if results else {"target": patch.target, "test_images": 0, "train_images": 0, "training": {}}
    training = first["training"]
    lines = [
        "# An adversarial patch: targeted success (%) against the patch's side",
        "",
        "The lecture's work in the field is about physical-world attacks — stickers on stop signs (Eykholt et al. 2018),",
        "printed eyeglass frames (Sharif et al. 2016): localised, visible patches that work wherever they are put, not",
        "the invisible L∞ noise of FGSM and PGD. Here a square patch asking for the class",
        f"**{first['target']}** is optimised on {first['train_images']} training digits by expectation over its placement",
        f"({training.get('steps')} signed gradient steps; random positions, rotations up to ±{training.get('rotation_degrees')}°,",
        f"scales {training.get('scale')}), then pasted unrotated at a random position on each of {first['test_images']} test",
        f"digits that are not a {first['target']}. Targeted success: the share of them the model then calls {first['target']}.",
        "",
        table.to_markdown(index=False),
        "",
        "## What the runs show",
        "",
        *check_patch_claims(patch, adversarial, results),
        "",
    ]
    return {
        "table": table,
        "markdown": "\n".join(lines),
        "plot": patch_success_figure(results, patch.bar.to_dict() if patch.bar is not None else {}),
        "metrics": metrics,
    }


def _rates(sizes: list[int], rates: list[float]) -> str:
    return ", ".join(f"{s}x{s}: {100 * a:.1f}%" for s, a in zip(sizes, rates))


def check_patch_claims(patch: PatchParameters, adversarial: AdversarialParameters, results: tuple[dict, ...]) -> list[str]:
    """The bar and the claims, each confirmed or contradicted by the measured numbers."""
    lines = []
    bar = patch.bar
    base = next((r for r in results if bar is not None and r["model"] == bar.model), None)
    if base is not None:
        limit, wanted = bar.max_size, float(bar.success_percent)
        small = [(s, a) for s, a in zip(base["sizes"], base["success"]) if s <= limit]
        every = base.get("every_target") or {"size": 0, "success": []}
        candidates = [(a, f"asking for {base['target']} at {s}x{s}") for s, a in small]
        candidates += [
            (a, f"asking for {t} at {every['size']}x{every['size']}") for t, a in enumerate(every["success"]) if every["size"] <= limit
        ]
        best, where = max(candidates, default=(0.0, "no patch that small"))
        lines.append(
            f"- A patch of at most {limit}x{limit} pixels makes {base['label']} answer its target on at least {wanted:g}% of the test "
            f"digits: {verdict(100 * best >= wanted)} — best {100 * best:.1f}% ({where}; asking for {base['target']}: "
            f"{_rates(*zip(*small)) if small else 'no size that small'})."
        )
        if base.get("every_target"):
            every = base["every_target"]
            lines.append(
                f"- Not the choice of target: with every class as the target, a patch of {every['size']}x{every['size']} pixels reaches "
                + ", ".join(f"{t}: {100 * a:.1f}%" for t, a in enumerate(every["success"]))
                + "."
            )
        if 100 * best < wanted:
            reach = next((s for s, a in zip(base["sizes"], base["success"]) if 100 * a >= wanted), None)
            lines.append(
                f"  With this attack the curve says it cannot: {base['label']} "
                + (
                    f"needs a {reach}x{reach} patch ({100 * reach * reach / 784:.0f}% of the image) for {wanted:g}%."
                    if reach
                    else f"stays below {wanted:g}% up to {base['sizes'][-1]}x{base['sizes'][-1]} ({100 * base['success'][-1]:.1f}%)."
                )
                + " A patch small enough to be a sticker leaves most of a 28x28 digit visible, and the networks read the digit."
            )
    for r in results:
        growing = all(b >= a for a, b in zip(r["success"], r["success"][1:]))
        pairs = list(zip(r["success"], r["random_patch_success"]))
        beats_noise = all(a >= n for a, n in pairs) and any(a > n for a, n in pairs)
        lines.append(
            f"- {r['label']}: the larger the patch, the more digits it turns: {verdict(growing)} — {_rates(r['sizes'], r['success'])}. "
            "It is the optimised pixels, not any square, that do it (as many digits as random pixels at every size, more at some): "
            f"{verdict(beats_noise)} — random pixels: "
            f"{_rates(r['sizes'], r['random_patch_success'])} ({100 * r['already_target']:.1f}% called {r['target']} without a patch)."
        )
    for r in results:
        if r["model"] not in adversarial.robust_models or base is None or r is base:
            continue
        shared = [(s, a, b) for s, a, b in zip(r["sizes"], r["success"], base["success"]) if s in base["sizes"]]
        lines.append(
            f"- L∞ adversarial training defends against the patch ({r['label']} turned no more often than {base['label']} "
            "at any size, less at some): "
            + verdict(all(a <= b for _, a, b in shared) and any(a < b for _, a, b in shared))
            + " — "
            + ", ".join(f"{s}x{s}: {100 * a:.1f}% vs {100 * b:.1f}%" for s, a, b in shared)
            + "."
        )
    return lines

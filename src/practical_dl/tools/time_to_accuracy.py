"""Time to accuracy of the default run's recipes: for each trained model, the epochs and seconds of
training until its validation error first reaches a target (the lecture's error; 0.45% for
SimpLeNet+), then the test error of that epoch's weights, measured once::

    python -m practical_dl.tools.time_to_accuracy                       # every model of `trained_models`
    python -m practical_dl.tools.time_to_accuracy --env gpu --models simplenet --target simplenet=0.7
    python -m practical_dl.tools.time_to_accuracy --full                # train to the end as configured
    python -m practical_dl.tools.time_to_accuracy --models simplenet --set simplenet.training.epochs=8 --full   # a candidate recipe

It trains each model exactly as the ``training`` pipeline does (the same parameters, splits,
statistics and seed, read through the project's catalog: run ``kedro run --pipelines
data_ingestion,standardisation`` once before), watching the validation error as each epoch ends
(a collaborator of the training loop) and stopping at the target unless ``--full``. With a
one-cycle schedule the epoch that reaches the target is not the end of the schedule: this
measures the recipe as configured, the number to beat with a shorter one. Not part of the test
suite: run it by hand; results in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import copy
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from practical_dl.core.config import AugmentConfig
from practical_dl.core.engine import fit, predict
from practical_dl.core.runtime import set_seed
from practical_dl.project.parameters import ModelSpec, training_settings
from practical_dl.project.training_setup import input_standardiser, model_from_params, training_data

logger = logging.getLogger("practical_dl.tools.time_to_accuracy")

#: targets for models without a lecture error (``reference_error_percent``)
DEFAULT_TARGETS = {"simplenet_plus": 0.45}


class TargetReached(Exception):
    """Raised by :class:`TargetWatch` to stop training at the target (unless told to go on)."""


@dataclass
class TargetWatch:
    """A collaborator of the training loop: notes the first epoch whose validation error is at
    most ``target_percent``, the training seconds until then, and that epoch's weights."""

    target_percent: float
    stop: bool = True
    epoch: int | None = None
    seconds: float | None = None
    val_error: float | None = None
    weights: dict | None = None

    def on_epoch_end(self, state) -> None:
        row = state.history[-1]
        if self.epoch is not None or "val_accuracy" not in row:
            return
        error = 100 * (1 - row["val_accuracy"])
        if error <= self.target_percent:
            self.epoch, self.val_error = row["epoch"], error
            self.seconds = sum(r["seconds"] for r in state.history)
            self.weights = copy.deepcopy(state.task["model"])
            if self.stop:
                raise TargetReached


def measure(name: str, params: dict[str, Any], splits: dict[str, Any], target: float, full: bool) -> dict[str, Any]:
    """Train model ``name`` as the training pipeline does, watching for ``target`` (validation error, %)."""
    block = params[name]
    model_params = ModelSpec.from_dict(block["model"], f"{name}.model")
    label = model_params.label or name
    config = training_settings(params.get("training_defaults"), block.get("training"), where=f"{name}.training")
    set_seed(config.seed)
    augmentation = AugmentConfig.from_dict(params.get("augmentation"), "augmentation")
    images, labels, augment = training_data(splits["train_split"], config, augmentation, where=f"{name}.training")
    network = model_from_params(model_params, f"{name}.model", images.shape[1], images.shape[-1])
    standardiser = input_standardiser(config, splits["standardisation_stats"], images.shape[1])
    watch = TargetWatch(target, stop=not full)
    validation = (splits["validation_split"]["images"], splits["validation_split"]["labels"])
    start = time.perf_counter()
    result = None
    try:
        result = fit(
            network,
            (images, labels),
            validation,
            standardiser,
            config,
            augment=augment,
            name=label,
            adversary=config.adversarial,
            callbacks=[watch],
        )
    except TargetReached:
        pass
    wall = time.perf_counter() - start
    row: dict[str, Any] = {"model": label, "target_percent": target, "epochs_configured": config.epochs}
    test = splits["test_split"]
    if result is not None:  # trained to the end: what the training pipeline would keep and report
        row["seconds_all_epochs"] = sum(r["seconds"] for r in result.history)
        row["best_val_error_percent"] = 100 * (1 - max(r.get("val_accuracy", 0.0) for r in result.history))
        predicted = predict(result.model, test["images"], standardiser, device=config.device).argmax(1).numpy()
        row["test_error_percent_kept"] = 100 * float((predicted != test["labels"]).mean())
        row["best_epoch"] = result.best_epoch
    if watch.epoch is not None:  # after: this replaces the kept weights in the same module
        network.load_state_dict(watch.weights)
        predicted = predict(network, test["images"], standardiser, device=config.device).argmax(1).numpy()
        row.update(
            epochs_to_target=watch.epoch,
            seconds_to_target=watch.seconds,
            val_error_percent=watch.val_error,
            test_error_percent_at_target=100 * float((predicted != test["labels"]).mean()),
        )
    row["wall_seconds"] = wall
    logger.info("%s: %s", label, row)
    return row


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        (
            "| model | target (val error %) | epochs configured | epochs to target | training s to target | val error % there "
            "| test error % of those weights | with --full: test error % of the kept weights (best val epoch, training s) |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "epochs_to_target" in r:
            cells = [
                f"{r['epochs_to_target']}",
                f"{r['seconds_to_target']:.1f}",
                f"{r['val_error_percent']:.2f}",
                f"{r['test_error_percent_at_target']:.2f}",
            ]
        else:
            cells = ["not reached", "—", f"best {r.get('best_val_error_percent', float('nan')):.2f}", "—"]
        kept = (
            f"{r['test_error_percent_kept']:.2f} (epoch {r['best_epoch']}, {r['seconds_all_epochs']:.1f} s)"
            if "test_error_percent_kept" in r
            else "—"
        )
        lines.append(f"| {r['model']} | {r['target_percent']:.2f} | {r['epochs_configured']} | " + " | ".join(cells) + f" | {kept} |")
    return "\n".join(lines)


def _runtime_params(items: list[str]) -> dict[str, Any]:
    """``["a.b.c=1", ...]`` -> ``{"a": {"b": {"c": 1}}}`` (values read as YAML)."""
    import yaml

    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. simplenet.training.epochs=8")
        *path, last = key.split(".")
        node = params
        for part in path:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return params


def _targets(params: dict[str, Any], models: list[str], given: list[str]) -> dict[str, float]:
    targets = {}
    for name in models:
        reference = (params[name].get("model") or {}).get("reference_error_percent")
        if reference is not None:
            targets[name] = float(reference)
        elif name in DEFAULT_TARGETS:
            targets[name] = DEFAULT_TARGETS[name]
    for item in given:
        name, _, value = item.partition("=")
        if name not in models or not value:
            raise SystemExit(f"--target {item!r}: expected MODEL=PERCENT with MODEL one of {models}")
        targets[name] = float(value)
    return targets


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default=None, help="Kedro configuration environment (default: the project's, local)")
    parser.add_argument("--models", nargs="+", default=None, help="models to measure (default: trained_models)")
    parser.add_argument(
        "--target", action="append", default=[], metavar="MODEL=PERCENT", help="validation error to reach, e.g. simplenet=0.79"
    )
    parser.add_argument("--full", action="store_true", help="train every configured epoch instead of stopping at the target")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter for this measurement, e.g. simplenet.training.epochs=8 (YAML value)",
    )
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="the project's folder (default: here)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(args.project)
    with KedroSession.create(project_path=args.project, env=args.env, runtime_params=_runtime_params(args.set)) as session:
        catalog = session.load_context().catalog
        params = catalog.load("parameters")
        names = ("train_split", "validation_split", "test_split", "standardisation_stats")
        missing = [n for n in names if not catalog.exists(n)]
        if missing:
            raise SystemExit(f"{', '.join(missing)} missing: run `kedro run --pipelines data_ingestion,standardisation` first")
        splits = {n: catalog.load(n) for n in names}
    models = args.models or list(params.get("trained_models") or [])
    unknown = [m for m in models if m not in params]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}: not in the parameters")
    targets = _targets(params, models, args.target)
    rows = [measure(m, params, splits, targets[m], args.full) for m in models if m in targets]
    print("\n" + markdown(rows))
    return rows


if __name__ == "__main__":
    main()

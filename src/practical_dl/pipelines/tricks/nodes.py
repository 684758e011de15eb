"""Nodes of the ``tricks`` pipeline."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import BeforeValidator, Field

from practical_dl.core.config import AugmentConfig
from practical_dl.core.params import Flag, NonNegativeInt, PositiveInt, Settings, merged
from practical_dl.core.splits import stratified_subset
from practical_dl.pipelines.tricks.figures import regression_figure, sweep_figure
from practical_dl.project.parameters import ModelOverrides, ModelSpec, TrainingOverrides, TrainingSettings, training_settings
from practical_dl.project.reporting import Claim, Report, metric_history, metric_values
from practical_dl.project.sweeps import MemberSummary, SweepData, SweepMember, train_member

logger = logging.getLogger(__name__)

#: an empty YAML mapping (``"off":``) is an empty block
_EMPTY_IS_NOTHING = BeforeValidator(lambda value: {} if value is None else value)


class MemberSpec(Settings):
    """One member of a sweep: what it changes."""

    model: ModelOverrides | None = None
    training: TrainingOverrides | None = None
    value: Any = None
    """How reports show the member (default: its name)."""


class SweepSpec(Settings):
    """One sweep: its members and what they share."""

    description: str = ""
    model: ModelOverrides | None = None
    training: TrainingOverrides | None = None
    scale_lr: Flag = False
    """Scale each member's learning rate by its batch size / the sweep's batch size."""
    members: Annotated[dict[str, Annotated[MemberSpec, _EMPTY_IS_NOTHING]], Field(min_length=1)]


class TricksParameters(Settings):
    """The ``tricks`` block: sweeps of one setting each, every member trained alike on one slice."""

    train_limit: PositiveInt | None = None
    """A stratified slice of the train split (null: all of it)."""
    seed: NonNegativeInt = 0
    """The slice."""
    model: ModelOverrides | None = None
    training: TrainingOverrides | None = None
    sweeps: Annotated[dict[str, SweepSpec], Field(min_length=1)]


class RotationRegressionParameters(Settings):
    """The ``rotation_regression`` block: predict the angle a digit was rotated by."""

    train_limit: PositiveInt | None = None
    max_degrees: Annotated[float, Field(gt=0, le=180, allow_inf_nan=False)] = 45
    """Angles are drawn uniformly in [-max_degrees, max_degrees]."""
    seed: NonNegativeInt = 0
    model: ModelOverrides | None = None
    """The network (default simplenet); its num_classes is 1 (one angle)."""
    training: TrainingOverrides | None = None


def sweep_members(tricks: TricksParameters) -> dict[str, list[str]]:
    """``{sweep: [member, ...]}`` in configuration order."""
    return {sweep: list(spec.members) for sweep, spec in tricks.sweeps.items()}


def member_spec(tricks: TricksParameters, defaults: TrainingSettings, sweep: str, member: str) -> tuple[ModelSpec, TrainingSettings]:
    """The model and training settings of one member.

    Layers, each overriding the one before: ``training_defaults``; ``tricks.model`` /
    ``tricks.training``; the sweep's ``model`` / ``training``; the member's. With
    ``scale_lr: true`` on a sweep, the learning rate is scaled by batch size / base batch size.
    """
    where = f"tricks.sweeps.{sweep}.members.{member}"
    spec = tricks.sweeps[sweep]
    own = spec.members[member]
    config = training_settings(defaults, tricks.training, spec.training, own.training, where=f"{where}.training")
    if spec.scale_lr:
        base_batch = training_settings(defaults, tricks.training, spec.training, where=f"tricks.sweeps.{sweep}.training").batch_size
        config = training_settings(config, {"lr": config.lr * config.batch_size / base_batch}, where=f"{where}.training")
    model = merged(ModelSpec, tricks.model, spec.model, own.model, where=f"{where}.model")
    return model, config


def train_sweep_member(
    train_split: dict[str, np.ndarray],
    validation_split: dict[str, np.ndarray],
    test_split: dict[str, np.ndarray],
    standardisation_stats: dict,
    tricks: TricksParameters,
    training_defaults: TrainingSettings,
    augmentation: AugmentConfig,
    *,
    sweep: str,
    member: str,
) -> MemberSummary:
    """Train one member of a sweep in a child MLflow run of its own; score it on the test split."""
    model, config = member_spec(tricks, training_defaults, sweep, member)
    data = SweepData(train_split, validation_split, test_split, standardisation_stats)
    where = f"tricks.sweeps.{sweep}.members.{member}"
    value = tricks.sweeps[sweep].members[member].value
    who = SweepMember(
        pipeline="tricks", sweep=sweep, member=member, where=where, train_limit=tricks.train_limit, seed=tricks.seed, value=value
    )
    summary, _ = train_member(data, model, config, augmentation, who)
    return summary


CHANCE_CLASSES = 10  # MNIST: accuracy under 1.5 / 10 is no learning at all


def summarise_sweeps(*results: MemberSummary) -> pd.DataFrame:
    """One row per member: test error, final train/validation accuracy and their gap, speed."""
    rows = []
    for r in results:
        train_acc, val_acc = r.last("train_accuracy"), r.last("val_accuracy")
        rows.append(
            {
                "sweep": r.sweep,
                "member": r.member,
                "batch size": r.batch_size,
                "learning rate": r.lr,
                "epochs": r.epochs,
                "test error (%)": round(r.test_error_percent, 2),
                "final train accuracy": round(train_acc, 4),
                "final validation accuracy": round(val_acc, 4),
                "train-validation gap": round(train_acc - val_acc, 4),
                "seconds per epoch": round(r.seconds_per_epoch, 2),
                "diverged": r.diverged,
                "mlflow run": r.mlflow_run_id,
            }
        )
    return pd.DataFrame(rows)


def _by_sweep(results: Sequence[MemberSummary]) -> dict[str, list[MemberSummary]]:
    out: dict[str, list[MemberSummary]] = {}
    for r in results:
        out.setdefault(r.sweep, []).append(r)
    return out


def _learning_rate_claims(rs: list[MemberSummary]) -> list[Claim]:
    """Too large a learning rate diverges; too small a one trains slowly."""
    diverged = [r.member for r in rs if r.diverged]
    best = min((r for r in rs if not r.diverged), key=lambda r: r.test_error_percent, default=None)
    stuck = [r.member for r in rs if not r.diverged and r.last("train_accuracy") < 1.5 / CHANCE_CLASSES]
    evidence = (
        f"diverged: {', '.join(diverged) or 'none'}"
        + (f"; stuck at chance level without diverging: {', '.join(stuck)}" if stuck else "")
        + (f"; best learning rate {best.lr:g} ({best.test_error_percent:.2f}% test error)" if best else "")
    )
    claims = [Claim.check("Too large a learning rate diverges", bool(diverged), evidence)]
    slowest = min(rs, key=lambda r: r.lr)
    if best is not None and slowest is not best:
        claims.append(
            Claim.check(
                "Too small a learning rate trains slowly",
                slowest.test_error_percent > best.test_error_percent,
                f"lr {slowest.lr:g} ends at {slowest.test_error_percent:.2f}% test error",
            )
        )
    return claims


def _batch_size_claims(members: list[MemberSummary]) -> list[Claim]:
    """The largest batch is fastest per epoch; very large batches reach a higher error."""
    rs = sorted(members, key=lambda r: r.batch_size)
    fastest = min(rs, key=lambda r: r.seconds_per_epoch)
    speed = f"fastest: batch {fastest.batch_size} ({fastest.seconds_per_epoch:.2f} s/epoch); " + "; ".join(
        f"batch {r.batch_size}: {r.seconds_per_epoch:.2f} s/epoch" for r in (rs[-1], rs[0])
    )
    higher = rs[-1].test_error_percent > min(r.test_error_percent for r in rs)
    errors = ", ".join(f"batch {r.batch_size}: {r.test_error_percent:.2f}%" for r in rs)
    return [
        Claim.check("The largest batch is fastest per epoch", fastest is rs[-1], speed),
        Claim.check("Very large batches reach a higher error (same epochs)", higher, errors),
    ]


def _off_on(members: list[MemberSummary]) -> dict[str, MemberSummary] | None:
    """The sweep's ``off`` and ``on`` members (and any other), or None when it lacks either."""
    by = {r.member: r for r in members}
    return by if {"off", "on"} <= set(by) else None


def _dropout_claims(members: list[MemberSummary]) -> list[Claim]:
    """Dropout narrows the train/validation gap."""
    by = _off_on(members)
    if by is None:
        return []
    gap = {k: v.last("train_accuracy") - v.last("val_accuracy") for k, v in by.items()}
    evidence = f"gap without {gap['off']:.4f}, with {gap['on']:.4f}"
    return [Claim.check("Dropout narrows the train/validation gap", gap["on"] < gap["off"], evidence)]


def _first_val_accuracy(r: MemberSummary) -> float:
    return r.history[0].get("val_accuracy", math.nan)


#: sweeps whose ``on`` member should reach a lower validation error than their ``off`` one: (sweep, claim, which epoch's)
_LOWER_ERROR_CLAIMS = (
    ("batch_norm", "Batch normalisation lowers the validation error sooner (after epoch 1)", _first_val_accuracy),
    ("augmentation", "Augmentation lowers the final validation error", lambda r: r.last("val_accuracy")),
    ("standardisation", "Standardisation lowers the final validation error", lambda r: r.last("val_accuracy")),
)


def _lower_error_claims(sweeps: dict[str, list[MemberSummary]]) -> list[Claim]:
    """Batch normalisation, augmentation and standardisation lower the validation error."""
    claims = []
    for sweep, statement, accuracy in _LOWER_ERROR_CLAIMS:
        by = _off_on(sweeps.get(sweep, []))
        if by is not None:
            err = {k: 100 * (1 - accuracy(v)) for k, v in by.items()}
            evidence = f"validation error without {err['off']:.2f}%, with {err['on']:.2f}%"
            claims.append(Claim.check(statement, err["on"] < err["off"], evidence))
    return claims


def check_claims(results: Sequence[MemberSummary]) -> list[Claim]:
    """The lecture's claims, each holding or contradicted by these runs."""
    sweeps = _by_sweep(results)
    claims = []
    if "learning_rate" in sweeps:
        claims += _learning_rate_claims(sweeps["learning_rate"])
    if "batch_size" in sweeps:
        claims += _batch_size_claims(sweeps["batch_size"])
    if "dropout" in sweeps:
        claims += _dropout_claims(sweeps["dropout"])
    return claims + _lower_error_claims(sweeps)


def report_sweeps(tricks: TricksParameters, *results: MemberSummary) -> dict[str, Any]:
    """The summary table, the report of the lecture's claims (a :class:`Report`) and one figure per sweep."""
    table = summarise_sweeps(*results)
    descriptions = "\n".join(f"- **{name}**: {spec.description}" for name, spec in tricks.sweeps.items())
    about = (
        f"SimpLeNet-style runs on {results[0].train_images} training images each; validation on the validation split, "
        "test error on the test split. Each member is a child MLflow run tagged with its sweep. The sweeps:\n\n" + descriptions
    )
    report = Report(
        "Tricks of the trade: what these runs show",
        about=about,
        claims=check_claims(results),
        tables={"All runs": table},
    )
    outputs: dict[str, Any] = {"summary": table, "report": report}
    for sweep, rs in _by_sweep(results).items():
        outputs[sweep] = sweep_figure(sweep, rs)
    return outputs


def rotate_digits(images: np.ndarray, max_degrees: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each digit rotated by its own uniform random angle in [-max, max] degrees (counter-clockwise
    positive); returns the rotated uint8 images and the angles."""
    import torch
    from kornia.geometry.transform import rotate  # here: kornia's import is a third of a second of every start-up

    rng = np.random.default_rng(seed)
    angles = rng.uniform(-max_degrees, max_degrees, size=len(images)).astype(np.float32)
    out = np.empty_like(images)
    for i in range(0, len(images), 2048):
        x = torch.from_numpy(images[i : i + 2048]).float()
        out[i : i + 2048] = rotate(x, torch.from_numpy(angles[i : i + 2048])).round().clamp(0, 255).to(torch.uint8).numpy()
    return out, angles


def train_rotation_regression(
    train_split: dict[str, np.ndarray],
    validation_split: dict[str, np.ndarray],
    standardisation_stats: dict,
    params: RotationRegressionParameters,
    training_defaults: TrainingSettings,
) -> tuple[dict, dict, Figure]:
    """Regression, as the lecture warns: predict the rotation angle of a digit.

    The target (degrees) is standardised with the training targets' mean and standard deviation
    for training, and the predictions are inverted back to degrees before the error is reported.
    """
    # torch is imported when the node runs, not when the pipeline is built
    import torch

    from practical_dl.core.engine import fit, predict
    from practical_dl.core.runtime import set_seed
    from practical_dl.core.standardise import Standardiser
    from practical_dl.project.training_setup import model_from_params

    config = training_settings(training_defaults, params.training, where="rotation_regression.training")
    max_degrees = float(params.max_degrees)
    seed = params.seed
    train = stratified_subset(train_split, params.train_limit, seed)
    x_train, y_train = rotate_digits(train["images"], max_degrees, seed)
    x_val, y_val = rotate_digits(validation_split["images"], max_degrees, seed + 1)
    target = Standardiser(mean=(float(y_train.mean()),), std=(float(y_train.std()),), dim=0)
    set_seed(config.seed)
    spec = merged(ModelSpec, {"name": "simplenet"}, params.model, {"num_classes": 1}, where="rotation_regression.model")
    model = model_from_params(spec, "rotation_regression.model")
    images = Standardiser.from_stats(standardisation_stats)
    result = fit(
        model,
        (x_train, target(torch.from_numpy(y_train)).numpy()),
        (x_val, target(torch.from_numpy(y_val)).numpy()),
        images,
        config,
        name="rotation regression",
        task="regression",
    )
    predicted = target.inverse(predict(result.model, x_val, images, device=config.device)[:, 0]).numpy()
    mae = float(np.abs(predicted - y_val).mean())
    baseline = float(np.abs(y_train.mean() - y_val).mean())
    logger.info("Rotation regression: MAE %.2f degrees on validation digits (predicting the mean: %.2f)", mae, baseline)
    metrics = {
        "val_mae_degrees": mae,
        "baseline_mae_degrees": baseline,
        "target_mean_degrees": float(y_train.mean()),
        "target_std_degrees": float(y_train.std()),
        "epochs": len(result.history),
    }
    mlflow_metrics = metric_values(metrics)
    mlflow_metrics["val_mae_standardised"] = metric_history((r["epoch"], r["val_mae"]) for r in result.history if "val_mae" in r)
    figure = regression_figure(y_val, predicted, mae, baseline)
    return metrics, mlflow_metrics, figure

"""Reading the sweeps of ``parameters_tricks.yml``: one training specification per member."""

from __future__ import annotations

from typing import Any

from practical_dl.engine import TrainConfig
from practical_dl.params import check_known_keys, deep_merge
from practical_dl.training_setup import model_from_params, training_config

MEMBER_KEYS = {"model", "training", "value"}
SWEEP_KEYS = {"description", "model", "training", "members", "scale_lr"}


def sweep_members(tricks: dict[str, Any]) -> dict[str, list[str]]:
    """``{sweep: [member, ...]}`` in configuration order."""
    sweeps = tricks.get("sweeps") or {}
    if not isinstance(sweeps, dict) or not sweeps:
        raise ValueError("parameter tricks.sweeps must be a mapping of sweeps, each with members")
    out = {}
    for sweep, spec in sweeps.items():
        members = (spec or {}).get("members")
        if not isinstance(members, dict) or not members:
            raise ValueError(f"parameter tricks.sweeps.{sweep}.members must be a non-empty mapping")
        out[sweep] = list(members)
    return out


def member_spec(tricks: dict[str, Any], defaults: dict[str, Any], sweep: str, member: str) -> tuple[dict[str, Any], TrainConfig]:
    """The model parameters and training configuration of one member.

    Layers, each overriding the one before: ``training_defaults``; ``tricks.model`` /
    ``tricks.training``; the sweep's ``model`` / ``training``; the member's. With
    ``scale_lr: true`` on a sweep, the learning rate is scaled by batch size / base batch size.
    """
    where = f"tricks.sweeps.{sweep}"
    sweep_spec = tricks["sweeps"][sweep] or {}
    check_known_keys(sweep_spec, SWEEP_KEYS, where)
    spec = sweep_spec["members"][member] or {}
    check_known_keys(spec, MEMBER_KEYS, f"{where}.members.{member}")
    base_training = deep_merge(tricks.get("training") or {}, sweep_spec.get("training"))
    training = deep_merge(base_training, spec.get("training"))
    model = deep_merge(deep_merge(tricks.get("model") or {}, sweep_spec.get("model")), spec.get("model"))
    config = training_config(defaults, training, where=f"{where}.members.{member}.training")
    if sweep_spec.get("scale_lr"):
        base_batch = training_config(defaults, base_training, where=f"{where}.training").batch_size
        config.lr = config.lr * config.batch_size / base_batch
        config.validate()
    model_from_params(model, f"{where}.members.{member}.model")  # fails early on a bad model block
    return model, config


def check_tricks_parameters(tricks: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Build every member's specification; raise ``ValueError`` naming the first bad parameter."""
    limit = tricks.get("train_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"parameter tricks.train_limit must be a positive integer or null, got {limit!r}")
    for sweep, members in sweep_members(tricks).items():
        for member in members:
            member_spec(tricks, defaults, sweep, member)

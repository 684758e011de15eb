"""Generic helpers that read a parameter block into typed settings (a dataclass), merge blocks
and check their keys, with errors that name the parameter at fault."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def increasing_list(values: Any, where: str, kind: type | tuple[type, ...], least: float, what: str) -> list:
    """``values`` checked as a non-empty, strictly increasing list of ``kind`` numbers, each
    ``>= least``; errors name ``where`` (and ``where[i]``), ``what`` says what an element must be."""
    if not isinstance(values, list) or not values:
        raise ValueError(f"parameter {where} must be a non-empty list, got {values!r}")
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, kind) or not math.isfinite(v) or not v >= least:
            raise ValueError(f"parameter {where}[{i}] must be {what}, got {v!r}")
    if values != sorted(set(values)):
        raise ValueError(f"parameter {where} must be increasing, got {values}")
    return list(values)


def deep_merge(base: dict[str, Any] | None, override: dict[str, Any] | None) -> dict[str, Any]:
    """``base`` updated with ``override``, nested mappings merged key by key (as OmegaConf merges
    configuration files and ``--params``): the one way a block of parameters overrides another
    (``training_defaults`` by a model's ``training``, a sweep by its members, ...)."""
    merged = copy.deepcopy(dict(base or {}))
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def check_known_keys(params: dict[str, Any], known: Iterable[str], where: str) -> None:
    """Raise ``ValueError`` naming every key of ``params`` that is not in ``known`` as ``where.key``."""
    known = set(known)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(f'{where}.{k}' for k in unknown)}; known: {sorted(known)}")


def settings_from_params(cls: type[T], params: dict[str, Any] | None, where: str) -> T:
    """Build the dataclass ``cls`` from a parameter block; its ``__post_init__`` checks values and
    raises ``ValueError('<field> ...')``, which is re-raised as ``invalid parameter <where>.<field> ...``."""
    params = dict(params or {})
    check_known_keys(params, (f.name for f in fields(cls)), where)
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid parameter {where}.{exc}") from None

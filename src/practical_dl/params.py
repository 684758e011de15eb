"""Parameter blocks -> typed settings, with errors that name the parameter at fault."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


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

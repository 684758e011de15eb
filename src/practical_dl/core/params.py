"""Typed parameter blocks: the base class, partial overrides, merging, and short error messages.

A parameter block (``training_defaults``, ``gan``, ...) is a :class:`Settings` subclass whose
fields state their ranges; Kedro validates a node's typed ``params:`` inputs against it before any
node runs. :func:`overrides_of` makes the partial type of a block that overrides another (a
model's ``training`` over ``training_defaults``); :func:`describe` turns pydantic's errors into
one line per mistake that names the parameter, the rule and the value.
"""

from __future__ import annotations

import copy
import math
import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, create_model, model_serializer

T = TypeVar("T", bound="Settings")

#: Integers (not booleans, not floats) with a range.
PositiveInt = Annotated[StrictInt, Field(gt=0)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
#: Finite numbers (NaN and infinities refused).
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
Flag = StrictBool


def _increasing(values: list) -> list:
    if not values:
        raise ValueError("must be a non-empty list")
    if list(values) != sorted(set(values)):
        raise ValueError("must be increasing")
    return values


#: A non-empty, strictly increasing list (``IncreasingList[PositiveInt]``).
class _IncreasingList:
    def __class_getitem__(cls, item: Any) -> Any:
        return Annotated[list[item], AfterValidator(_increasing)]


IncreasingList = _IncreasingList


class Settings(BaseModel):
    """A parameter block: unknown keys refused, every field checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True, populate_by_name=True)

    @classmethod
    def from_dict(cls: type[T], params: dict[str, Any] | BaseModel | None, where: str = "") -> T:
        """Build from a parameter block; errors name the parameter as ``where.key``."""
        return settings_from_params(cls, params, where)

    def to_dict(self) -> dict[str, Any]:
        """The block as plain data (nested overrides keep only what they set)."""
        return self.model_dump(by_alias=True)


class SetOnly(Settings):
    """Only what a block sets: fields not given stay out of ``to_dict()`` and of merges."""

    @model_serializer(mode="wrap")
    def _only_set(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}


class _CreatedOverrides(SetOnly):
    """The base of :func:`overrides_of`'s models: their descriptions are copied, not read from source
    (pydantic's search for the source of a created class walks every frame of the stack)."""

    model_config = ConfigDict(use_attribute_docstrings=False)


def overrides_of(cls: type[Settings], name: str | None = None, doc: str | None = None) -> type[Settings]:
    """The partial version of ``cls``: every field optional, the same ranges, only the set ones dumped."""
    fields: dict[str, Any] = {}
    for field_name, info in cls.model_fields.items():
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[field_name] = (annotation | None, Field(default=None, description=info.description))
    model = create_model(name or f"{cls.__name__}Overrides", __base__=_CreatedOverrides, __doc__=doc, **fields)
    model.__module__ = cls.__module__
    model.model_config["use_attribute_docstrings"] = True  # for hand-written subclasses, which have a source
    return model


def unwrap_optional(annotation: Any) -> Any:
    """``X`` for ``X | None`` (or ``Optional[X]``); any other annotation as it is."""
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(arguments) == 1:
        return arguments[0]
    return annotation


def nested_value(params: dict[str, Any], key: str) -> tuple[bool, Any]:
    """``(True, value)`` of a dotted ``key`` (``simplenet.training``) in nested ``params``, ``(False, None)`` when absent."""
    value: Any = params
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def deep_merge(base: dict[str, Any] | None, override: dict[str, Any] | None) -> dict[str, Any]:
    """``base`` updated with ``override``, nested mappings merged key by key (as OmegaConf merges
    configuration files and ``--params``)."""
    merged = copy.deepcopy(dict(base or {}))
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def plain(block: BaseModel | dict[str, Any] | None) -> dict[str, Any]:
    """A block as a plain dict (a typed block dumped, a dict copied, None empty)."""
    if block is None:
        return {}
    if isinstance(block, BaseModel):
        return block.model_dump(by_alias=True)
    return copy.deepcopy(dict(block))


def merged(cls: type[T], *blocks: BaseModel | dict[str, Any] | None, where: str) -> T:
    """``cls`` built from ``blocks``, each overriding the ones before it key by key."""
    data: dict[str, Any] = {}
    for block in blocks:
        data = deep_merge(data, plain(block))
    return settings_from_params(cls, data, where)


class ParameterError(ValueError):
    """A parameter block that breaks its type's rules; the message has one line per mistake."""


def settings_from_params(cls: type[T], params: dict[str, Any] | BaseModel | None, where: str) -> T:
    """Validate ``params`` as ``cls``; raise :class:`ParameterError` naming ``where.<key>``."""
    if isinstance(params, cls):
        return params
    try:
        return cls.model_validate(plain(params) if isinstance(params, BaseModel) else (params if params is not None else {}))
    except ValidationError as exc:
        raise ParameterError(describe(exc, where)) from None


# ----------------------------------------------------------------------------- messages

_RULES = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "finite_number": "must be a finite number",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "literal_error": "must be one of {expected}",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} item(s)",
    "missing": "is required",
}


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) and math.isfinite(value) and value == int(value) else str(value)


def _rule(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    template = _RULES.get(kind)
    if template is None:
        return error["msg"][:1].lower() + error["msg"][1:]
    ctx = {k: _number(v) for k, v in (error.get("ctx") or {}).items()}
    return template.format(**ctx)


def _path(where: str, loc: Sequence[Any]) -> str:
    path = where
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _branches(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors of a union (``bool | {...}``): the deepest branch's, or all branches merged into one."""
    by_field: dict[tuple, list[dict[str, Any]]] = {}
    for error in errors:
        loc = tuple(error["loc"])
        tags = [i for i, part in enumerate(loc) if isinstance(part, str) and (part[:1].isupper() or "[" in part or part in _TAGS)]
        key = loc[: tags[0]] if tags else loc
        by_field.setdefault(key, []).append({**error, "loc": tuple(p for i, p in enumerate(loc) if i not in tags), "_tagged": bool(tags)})
    out = []
    for field_errors in by_field.values():
        tagged = [e for e in field_errors if e["_tagged"]]
        if len(tagged) < 2:
            out.extend(field_errors)
            continue
        deepest = max(len(e["loc"]) for e in tagged)
        deep = [e for e in tagged if len(e["loc"]) == deepest]
        if deepest > min(len(e["loc"]) for e in tagged):
            out.extend(deep)
        else:
            rules = " or ".join(dict.fromkeys(_rule(e).removeprefix("must be ") for e in tagged))
            out.append({**tagged[0], "type": "value_error", "ctx": {"error": f"must be {rules}"}})
    return out


_TAGS = {"bool", "int", "float", "str", "list", "dict", "none", "function-after", "function-before", "function-wrap"}


def describe(exc: ValidationError, where: str) -> str:
    """One line per mistake: ``invalid parameter <where.key>: <rule>, got <value>``."""
    lines = []
    for error in _branches(exc.errors()):
        path = _path(where, error["loc"])
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown parameter {path}: remove it or check its spelling")
        elif error["type"] == "missing":
            lines.append(f"missing parameter {path}")
        else:
            value = error["input"]
            shown = value if isinstance(value, str) and error["type"] == "finite_number" else repr(value)  # --params x=nan
            got = "" if isinstance(value, dict) else f", got {shown}"
            lines.append(f"invalid parameter {path}: {_rule(error)}{got}")
    return "\n".join(dict.fromkeys(lines))

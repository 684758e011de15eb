"""The parameter blocks that several pipelines read: models, training, evaluation, registry.

Each is a :class:`~practical_dl.core.params.Settings` type; a node that declares one for a
``params:`` input gets it validated by Kedro before any node runs. A pipeline's own block is
typed in its ``nodes.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import ConfigDict, Field, RootModel, StrictInt, TypeAdapter, ValidationError, field_validator, model_validator
from typing_extensions import TypedDict

from practical_dl.core.config import AugmentOverrides, Device, TrainConfig
from practical_dl.core.params import Flag, NonNegativeInt, ParameterError, PositiveInt, SetOnly, Settings, describe, merged, overrides_of
from practical_dl.methods.attack_settings import AdversarialTraining
from practical_dl.models.options import ARCHITECTURE_OPTIONS


class ArchitectureOptions(TypedDict, total=False):
    """The ranges of the architectures' options (``model.options``), checked without building a
    network; which options an architecture takes, against :data:`~practical_dl.models.options.ARCHITECTURE_OPTIONS`."""

    __pydantic_config__ = ConfigDict(extra="allow")  # the names are checked by ModelSpec

    dropout: Annotated[float, Field(ge=0, le=1, strict=True, allow_inf_nan=False)]
    batch_norm: bool
    depth: Annotated[StrictInt, Field(ge=3)]
    width: Annotated[StrictInt, Field(gt=0)]
    hidden: Annotated[list[Annotated[StrictInt, Field(gt=0)]], Field(min_length=1)]


_OPTIONS = TypeAdapter(ArchitectureOptions)


class ModelSpec(SetOnly):
    """A ``model`` block: which network, how reports name it, and its options."""

    name: str
    """A key of ``practical_dl.models.networks.MODEL_REGISTRY``."""
    label: str | None = None
    """How reports name the model (default: its name)."""
    reference_error_percent: float | None = None
    """The lecture's test error, for the results table; null: not in the lecture."""
    options: dict[str, Any] = {}
    """Keyword arguments of the architecture (``dropout``, ``batch_norm``, ``width``, ...)."""
    num_classes: PositiveInt = 10

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in ARCHITECTURE_OPTIONS:
            raise ValueError(f"must be one of {', '.join(sorted(ARCHITECTURE_OPTIONS))}")
        return name

    @field_validator("options")
    @classmethod
    def _options_in_range(cls, options: dict[str, Any]) -> dict[str, Any]:
        _OPTIONS.validate_python(options)  # errors name options.<key>; the values are kept as given
        return options

    @model_validator(mode="after")
    def _options_known(self) -> ModelSpec:
        _check_options(self.name, self.options)
        return self

    @property
    def display_name(self) -> str:
        return self.label or self.name


def _check_options(name: str, options: dict[str, Any]) -> None:
    accepted = ARCHITECTURE_OPTIONS[name]
    if accepted is None:  # a preset forwarding **kwargs: nothing to compare with
        return
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"options {unknown} are not options of {name!r}; its options: {sorted(accepted)}")


#: A partial ``model`` block (a sweep's or a member's), merged onto another.
ModelOverrides = overrides_of(ModelSpec, "ModelOverrides")


class TrainingSettings(TrainConfig):
    """``training_defaults``: how every model is trained unless its own ``training`` block says otherwise."""

    augment: Flag | AugmentOverrides = False
    """true: the shared ``augmentation`` block; a mapping: that block with these settings changed."""
    adversarial: AdversarialTraining | None = None
    """Adversarial examples mixed into training batches; null: none."""


#: A model's ``training`` block: the settings of ``training_defaults`` it changes.
TrainingOverrides = overrides_of(TrainingSettings, "TrainingOverrides")


def training_settings(*blocks: Settings | dict[str, Any] | None, where: str) -> TrainingSettings:
    """``training_defaults`` then each overriding block, merged key by key and validated as a whole."""
    return merged(TrainingSettings, *blocks, where=where)


class TrainedModels(RootModel[list[str]]):
    """``trained_models``: the namespaces of the models the training pipeline trains."""

    @classmethod
    def from_dict(cls, params: Any, where: str = "trained_models") -> TrainedModels:
        """Validate a list of names; raise :class:`~practical_dl.core.params.ParameterError` naming ``where``."""
        try:
            return cls.model_validate(params if params is not None else [])
        except ValidationError as exc:
            raise ParameterError(describe(exc, where)) from None


def trained_model_names(parameters: Mapping[str, Any]) -> list[str]:
    """Namespaces of the models to train (``trained_models``), each with a parameter block of its own."""
    names = TrainedModels.from_dict(parameters.get("trained_models") or [], "trained_models").root
    missing = [n for n in names if n not in parameters]
    if missing:
        raise ParameterError(f"invalid parameter trained_models: {missing} have no parameter block of their own; add one or remove them")
    return list(names)


class EvaluationParameters(Settings):
    """The ``evaluation`` block: how trained classifiers are scored and drawn."""

    device: Device = "auto"
    misclassified_to_show: PositiveInt = 40
    """The most confident mistakes first."""
    kernels_model: str = "simplenet"
    """Whose first-layer kernels and feature maps to draw."""
    feature_map_image: NonNegativeInt = 0
    """Index of the test digit whose feature maps are drawn."""


class RegistryParameters(Settings):
    """The ``registry`` block: whether and under which names trained models are registered in MLflow."""

    enabled: Flag = Field(True, alias="register")
    """``register``: register every trained classifier as an MLflow model."""
    name_prefix: str = "practical_dl"


__all__ = [
    "EvaluationParameters",
    "ModelOverrides",
    "ModelSpec",
    "RegistryParameters",
    "TrainedModels",
    "TrainingOverrides",
    "TrainingSettings",
    "training_settings",
]

"""Kedro dataset of one typed value (a pydantic model) as a JSON file: what nodes hand on is
checked where it is made and read back as the same type."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from kedro_datasets.json import JSONDataset
from pydantic import BaseModel


class TypedJSONDataset(JSONDataset):
    """A pydantic model saved as JSON and loaded back as that model::

    "batch_lr.{batch}.{lr}.result":
      type: practical_dl.project.datasets.TypedJSONDataset
      model: practical_dl.project.sweeps.MemberSummary
      filepath: data/07_model_output/batch_lr/{batch}_{lr}.json

    ``model`` is the type's import path, resolved when the dataset is first read or written (so
    building the catalog imports nothing). The file is the model's ``model_dump()`` as plain JSON.
    """

    def __init__(self, *, model: str, filepath: str, **kwargs: Any) -> None:
        super().__init__(filepath=filepath, **kwargs)
        self._model_path = model

    def _model(self) -> type[BaseModel]:
        module, _, name = self._model_path.rpartition(".")
        try:
            model = getattr(import_module(module), name)
        except (ImportError, AttributeError, ValueError):
            raise ValueError(f"{self._filepath}: model {self._model_path!r} is not an importable class") from None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ValueError(f"{self._filepath}: model {self._model_path!r} is not a pydantic model")
        return model

    def load(self) -> BaseModel:
        return self._model().model_validate(super().load())

    def save(self, data: BaseModel) -> None:
        model = self._model()
        if not isinstance(data, model):
            raise TypeError(f"{self._filepath}: expected a {model.__name__}, got {type(data).__name__}")
        super().save(data.model_dump())

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "model": self._model_path}

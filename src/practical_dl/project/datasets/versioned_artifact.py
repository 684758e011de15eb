"""kedro-mlflow's ``MlflowArtifactDataset`` over a Kedro-versioned dataset.

``MlflowArtifactDataset`` builds its wrapped dataset itself, so a wrapped ``versioned: true``
dataset stamps its own save version at creation. Kedro's catalog requires one save version per
run and refuses a dataset created later (e.g. from a factory pattern) with
``VersionAlreadyExistsError``. This subclass takes the catalog's version (``versioned: true`` at
the top level) and hands it to the wrapped dataset.
"""

from __future__ import annotations

from typing import Any

from kedro.io.core import Version
from kedro_mlflow.io.artifacts import MlflowArtifactDataset

from practical_dl.project.upstream import use_catalog_version


class VersionedMlflowArtifactDataset(MlflowArtifactDataset):
    """Example::

    "{model}.weights":
      type: practical_dl.project.datasets.VersionedMlflowArtifactDataset
      versioned: true
      dataset:
        type: kedro_datasets_experimental.safetensors.SafetensorsDataset
        filepath: data/06_models/{model}.safetensors
      artifact_path: models/{model}
    """

    def __new__(
        cls,
        dataset: str | dict,
        version: Version | None = None,
        run_id: str | None = None,
        artifact_path: str | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        config = {"type": dataset} if isinstance(dataset, str) else dict(dataset)
        config["versioned"] = True
        instance = MlflowArtifactDataset.__new__(
            MlflowArtifactDataset, dataset=config, run_id=run_id, artifact_path=artifact_path, credentials=credentials, metadata=metadata
        )
        return use_catalog_version(instance, version) if version is not None else instance

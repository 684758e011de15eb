"""Fixtures of the project-layer tests."""

import pytest


@pytest.fixture
def store(tmp_path):
    """A fresh SQLite MLflow store (experiment ``tracking-test``) for this test only."""
    import mlflow
    from mlflow.tracking import MlflowClient

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("tracking-test")
    try:
        yield MlflowClient()
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(before)

"""``python -m practical_dl.tools.mlflow_view``: the address of the project's runs in the MLflow UI."""

from __future__ import annotations

import mlflow

from practical_dl.project.tracking import COMPARISON_VIEW_KEY, SHARED_VIEW_TAG_PREFIX, comparison_view_url, ui_address


def main() -> None:
    """``python -m practical_dl.tools.mlflow_view`` (``make mlflow-ui`` runs it first): print the address of
    the project's runs in the MLflow UI, with each model's test error (``KEDRO_ENV`` picks the
    environment, as for ``kedro mlflow ui``)."""
    from pathlib import Path

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.utils import find_kedro_project

    project = find_kedro_project(Path.cwd()) or Path.cwd()
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        config = session.load_context().mlflow  # kedro-mlflow's configuration; it sets up the store
    experiment = mlflow.MlflowClient().get_experiment_by_name(config.tracking.experiment.name)
    url = comparison_view_url(ui_address(config), experiment.experiment_id, SHARED_VIEW_TAG_PREFIX + COMPARISON_VIEW_KEY in experiment.tags)
    print(f"MLflow UI, the runs with each model's test error: {url}")


if __name__ == "__main__":
    main()

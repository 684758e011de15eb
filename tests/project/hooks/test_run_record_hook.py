"""The run record hook around Kedro's own runner: each node recorded when its outputs are saved; a
rerun with only_missing_outputs redoes nothing that is done, reruns what a changed parameter makes
out of date (saying which key changed), does not rerun a node for its MLflow metrics, and logs its
plan and one line per node."""

import logging

import pluggy
import pytest
from kedro.framework.hooks.markers import HOOK_NAMESPACE
from kedro.framework.hooks.specs import DatasetSpecs, NodeSpecs, PipelineSpecs
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset
from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset

from practical_dl.project.datasets import RunRecordDataset
from practical_dl.project.hooks.run_record import RunRecordHook

RAN: list[str] = []


def train(params: dict) -> int:
    RAN.append("train")
    return params["epochs"]


def report(model: int, bar: dict) -> tuple[int, dict]:
    RAN.append("report")
    return model + bar["bar"], {"score": {"step": 0, "value": float(model)}}


def page(report_: int) -> str:
    RAN.append("page")
    return f"page {report_}"


PIPELINE = Pipeline(
    [
        Node(train, "params:train", "model", name="train", tags=["lecture.default"]),
        Node(report, ["model", "params:report"], ["report", "metrics"], name="report", tags=["lecture.default"]),
        Node(page, "report", "page", name="page", tags=["lecture.page"]),
    ]
)


def run(tmp_path, epochs: int = 2, only_missing_outputs: bool = True) -> list[str]:
    """One run of PIPELINE with a fresh catalog and the hook, as ``kedro run [--only-missing-outputs]`` would; the nodes that ran."""
    catalog = DataCatalog(
        datasets={
            "node_runs": RunRecordDataset(filepath=str(tmp_path / "node_runs.json")),
            "params:train": MemoryDataset({"epochs": epochs, "lr": 0.1}),
            "params:report": MemoryDataset({"bar": 10}),
            "params:lecture": MemoryDataset({"reference_seconds": {"default": 60.0}}),
            **{name: JSONDataset(filepath=str(tmp_path / f"{name}.json")) for name in ("model", "report", "page")},
            "metrics": MlflowMetricsHistoryDataset(prefix="report"),
        }
    )
    manager = pluggy.PluginManager(HOOK_NAMESPACE)
    for specs in (NodeSpecs, PipelineSpecs, DatasetSpecs):
        manager.add_hookspecs(specs)
    manager.register(RunRecordHook())
    params = {"pipeline_names": ["lecture"], "only_missing_outputs": only_missing_outputs}
    RAN.clear()
    manager.hook.before_pipeline_run(run_params=params, pipeline=PIPELINE, catalog=catalog)
    SequentialRunner().run(PIPELINE, catalog, manager, only_missing_outputs=only_missing_outputs)
    return list(RAN)


@pytest.fixture
def mlflow_run(store):
    """Each run in its own MLflow run, as each ``kedro run`` is: the metrics of the last are not in the next."""
    import mlflow

    def start():
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.start_run()

    return start


def test_a_rerun_redoes_only_what_a_changed_parameter_makes_out_of_date(tmp_path, mlflow_run, caplog):
    mlflow_run()
    with caplog.at_level(logging.INFO, logger="practical_dl"):
        assert run(tmp_path, only_missing_outputs=False) == ["train", "report", "page"]
    assert "Plan: 3 of 3 nodes to run in 2 parts, about 1 min 00 s" in caplog.text  # default's reference; the page has none
    assert "[3/3] page: page done in" in caplog.text
    record = RunRecordDataset(filepath=str(tmp_path / "node_runs.json")).load()
    assert record.nodes["train"].part == "default" and record.nodes["train"].outputs == ["model"]
    assert record.nodes["page"].finished >= record.nodes["report"].finished >= record.nodes["train"].finished
    assert record.part_seconds("default") is not None

    mlflow_run()  # a new MLflow run, where the report's metrics do not exist: the report is not run again for them
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="practical_dl"):
        assert run(tmp_path) == []
    assert "Plan: nothing to run, all 3 nodes are done and up to date" in caplog.text

    mlflow_run()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="practical_dl"):
        assert run(tmp_path, epochs=3) == ["train", "report", "page"]
    assert (
        "default: 2 nodes out of date, to run again: parameters changed: train.epochs; it reads model, made again in this run"
        in caplog.text
    )
    assert "page: 1 node out of date" in caplog.text
    assert "Replacing dataset" not in caplog.text  # the catalog's warning for what the hook replaces on purpose
    assert (tmp_path / "page.json").read_text() == '"page 13"'

    (tmp_path / "report.json").unlink()  # an output lost: its node runs, and the page that reads it
    mlflow_run()
    assert run(tmp_path, epochs=3) == ["report", "page"]

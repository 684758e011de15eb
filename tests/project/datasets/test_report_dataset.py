"""The pages' datasets: a report saved as its markdown and its JSON, loaded back typed; a figure read
back as its PNG; the run record, which always exists; each previewed or logged as the catalog needs."""

import inspect
import json
import logging
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from practical_dl.project.datasets import FigureDataset, PageDataset, ReportDataset, RunRecordDataset  # noqa: E402
from practical_dl.project.reporting import Claim, Report, Verdict, render_report  # noqa: E402
from practical_dl.project.run_record import NodeRun, RunRecord  # noqa: E402


def _report() -> Report:
    return Report(
        "Tricks",
        about="How it was measured.",
        claims=[
            Claim.check("Dropout narrows the gap", True, "1.6 against -0.6"),
            Claim.from_margin("Batch norm helps", math.nan, 0.2, "n/a"),
        ],
        tables={"Every member": pd.DataFrame({"member": ["a", "b"], "error": [1.5, 2.25]}), "Ready": "| x |\n|---|\n| 1 |"},
        claims_heading="What the runs show",
        tables_first=True,
    )


def test_a_report_is_saved_as_its_markdown_and_json_and_loads_back_typed(tmp_path):
    dataset = ReportDataset(filepath=str(tmp_path / "tricks" / "report.md"))
    assert not dataset.exists()
    report = _report()
    dataset.save(report)
    assert dataset.exists()
    markdown = (tmp_path / "tricks" / "report.md").read_text()
    assert markdown == render_report(report, log=False)  # the one renderer, byte for byte
    data = json.loads((tmp_path / "tricks" / "report.json").read_text())
    assert [c["verdict"] for c in data["claims"]] == ["holds", "not shown"]
    assert data["claims"][1]["margin"] is None and data["claims"][1]["spread"] == 0.2  # NaN is not JSON: no number
    loaded = dataset.load()
    assert [(c.statement, c.verdict) for c in loaded.claims] == [
        ("Dropout narrows the gap", Verdict.HOLDS),
        ("Batch norm helps", Verdict.NOT_SHOWN),
    ]
    assert isinstance(loaded.claims[0], Claim) and loaded.tables["Every member"].startswith("| member")
    assert render_report(loaded, log=False) == markdown  # tables come back as markdown, rendered the same


def test_only_a_report_is_saved(tmp_path):
    with pytest.raises(Exception, match="expected a Report, got str"):
        ReportDataset(filepath=str(tmp_path / "report.md")).save("# markdown")


def test_both_files_are_logged_to_the_run_where_kedro_mlflow_logs_the_markdown(tmp_path, store):
    import mlflow
    from kedro_mlflow.io.artifacts import MlflowArtifactDataset

    dataset = MlflowArtifactDataset(
        dataset={"type": "practical_dl.project.datasets.ReportDataset", "filepath": str(tmp_path / "report.md")}, artifact_path="reports/x"
    )
    with mlflow.start_run() as run:
        dataset.save(_report())
    logged = {f.path for f in store.list_artifacts(run.info.run_id, "reports/x")}
    assert logged == {"reports/x/report.md", "reports/x/report.json"}
    assert dataset.load().title == "Tricks"


def test_pages_and_reports_preview_as_html_in_kedro_viz(tmp_path):
    page = PageDataset(filepath=str(tmp_path / "lecture.html"))
    page.save("<h1>The lecture</h1>")
    assert page.preview() == "<h1>The lecture</h1>"
    report = ReportDataset(filepath=str(tmp_path / "report.md"))
    report.save(_report())
    assert report.preview().startswith("# Tricks\n")
    for dataset in (page, report):  # kedro-viz names the preview's kind after the annotation
        assert str(inspect.signature(dataset.preview).return_annotation).endswith("HTMLPreview")


def test_a_figure_is_read_back_as_its_png(tmp_path):
    dataset = FigureDataset(filepath=str(tmp_path / "plot.png"))
    figure, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    dataset.save(figure)
    plt.close(figure)
    assert dataset.load().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_run_record_always_exists_and_survives_a_bad_file(tmp_path, caplog):
    dataset = RunRecordDataset(filepath=str(tmp_path / "data" / "node_runs.json"))
    assert dataset.exists() and dataset.load() == RunRecord()
    record = RunRecord(nodes={"train": NodeRun(part="tricks", seconds=1.5, finished=10.0, params={"params:x": "ab"}, outputs=["y"])})
    dataset.save(record)
    assert dataset.load() == record
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["node_runs.json"]  # written beside, then renamed
    assert (tmp_path / "data" / "node_runs.json").stat().st_mode & 0o044  # readable as any file the run writes
    (tmp_path / "data" / "node_runs.json").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert dataset.load() == RunRecord()
    assert "cannot be read" in caplog.text

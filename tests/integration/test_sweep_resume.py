"""A sweep (``batch_lr`` on ``conf/test``) killed with SIGKILL in the middle of a member, then run
again plainly: the finished members are not trained again, the interrupted one goes on from its
checkpoint, and the report's numbers equal those of a run never interrupted."""

import json
import re
import signal
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import KEDRO_TEST_RUN, completed_kedro_run, interrupt_kedro_run, make_project_copy

pytestmark = pytest.mark.integration

EPOCHS = 8  # each member long enough to be killed in the middle
KEDRO_RUN = [
    sys.executable,
    *KEDRO_TEST_RUN,
    "--pipelines",
    "data_ingestion,standardisation,batch_lr",
    "--params",
    f"batch_lr.training.epochs={EPOCHS}",
]
TIMINGS = ("seconds", "images_per_second")


def _numbers(project: Path) -> tuple[pd.DataFrame, dict[str, dict]]:
    """The report's table without its timings, and every member's result without its timings and run id."""
    table = pd.read_csv(project / "data" / "08_reporting" / "batch_lr" / "test_error.csv").drop(columns="seconds per epoch")
    results = {}
    for path in sorted((project / "data" / "07_model_output" / "batch_lr").glob("*.json")):
        result = json.loads(path.read_text())
        del result["mlflow_run_id"], result["seconds_per_epoch"]
        result["history"] = [{k: v for k, v in row.items() if k not in TIMINGS} for row in result["history"]]
        results[path.stem] = result
    return table, results


def _in_the_middle_of_a_member(log: str) -> bool:
    """One member has finished, and another has logged its second epoch but not its test error."""
    finished = set(re.findall(r"(batch_lr/\S+): test error", log))
    started = set(re.findall(rf"(batch_lr/\S+) epoch [2-{EPOCHS - 2}]/{EPOCHS}:", log))
    return bool(finished) and bool(started - finished)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    project = make_project_copy(tmp_path_factory.mktemp("reference"))
    completed_kedro_run(KEDRO_RUN, project, timeout=600)
    return project


def test_a_killed_sweep_resumes_its_member_in_flight_and_skips_the_finished_ones(reference, tmp_path):
    killed = make_project_copy(tmp_path)
    log = tmp_path / "killed.log"
    assert interrupt_kedro_run(KEDRO_RUN, killed, log, _in_the_middle_of_a_member, signal.SIGKILL, wait_s=300) != 0
    before = log.read_text()
    finished = set(re.findall(r"(batch_lr/\S+): test error", before))
    in_flight = set(re.findall(rf"(batch_lr/\S+) epoch \d+/{EPOCHS}:", before)) - finished
    assert len(in_flight) == 1, before[-3000:]

    again = completed_kedro_run(KEDRO_RUN, killed, timeout=600)
    for member in finished:
        assert f"{member}: already trained" in again.stdout, (member, again.stdout[-3000:])
        assert f"Training {member} on" in again.stdout  # set up, then not trained again
        assert f"{member} epoch 1/{EPOCHS}:" not in again.stdout
    (member,) = in_flight
    resumed = re.search(rf"{re.escape(member)}: resuming after epoch (\d+) of {EPOCHS}", again.stdout)
    assert resumed is not None and int(resumed.group(1)) >= 2, again.stdout[-3000:]
    assert again.stdout.count(f"{member}: resuming after epoch") == 1

    expected_table, expected_results = _numbers(reference)
    table, results = _numbers(killed)
    pd.testing.assert_frame_equal(table, expected_table)
    assert results == expected_results
    reports = [project / "data" / "08_reporting" / "batch_lr" / "report.md" for project in (killed, reference)]
    assert _without_timings(reports[0].read_text()) == _without_timings(reports[1].read_text())


def _without_timings(report: str) -> list[str]:
    """A report's lines, the claim about seconds per epoch and the table's seconds column left out."""
    return [line.rsplit("|", 2)[0] if line.startswith("|") else line for line in report.splitlines() if "per epoch" not in line]

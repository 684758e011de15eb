"""``kedro run --pipelines lecture --only-missing-outputs`` (``make lecture``) on ``conf/test``, in a project
copy: stopped with SIGINT half-way, run again to the end, then once more with a parameter changed.

The rerun does not redo what the stopped run finished; the page (``lecture.md``) lists every claim of
every part's report JSON with its verdict; ``lecture.html`` opens in headless Chromium with a row per
claim (set LECTURE_SCREENSHOT=/path/to/file.png to keep its screenshot); both are logged to the run's
MLflow run; a changed parameter reruns the nodes that read it, and only those.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from practical_dl.project.lecture import LECTURE_PARTS
from practical_dl.project.reporting import report_from_dict
from tests.conftest import KEDRO_TEST_RUN, completed_kedro_run, interrupt_kedro_run, make_project_copy, runs_of

pytestmark = pytest.mark.integration

LECTURE = [sys.executable, *KEDRO_TEST_RUN, "--pipelines", "lecture", "--only-missing-outputs"]
DONE = re.compile(r"\[(\d+)/(\d+)\] (\S+): (\S+) done in")
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


def done_nodes(log: str) -> dict[str, str]:
    """The nodes a run's progress lines say are done, with their part."""
    return {node: part for _, _, part, node in DONE.findall(log)}


def half_way(log: str) -> bool:
    """Half of the planned nodes are done."""
    counts = [(int(k), int(n)) for k, n, _, _ in DONE.findall(log)]
    return bool(counts) and counts[-1][0] >= counts[-1][1] // 2


@pytest.fixture(scope="module")
def lecture(tmp_path_factory):
    """The project after a lecture run stopped half-way by SIGINT and run again; the logs of both."""
    project = make_project_copy(tmp_path_factory.mktemp("lecture"))
    stopped_log = project / "stopped.log"
    assert interrupt_kedro_run(LECTURE, project, stopped_log, half_way, signal.SIGINT, wait_s=400) != 0
    stopped = stopped_log.read_text()
    finished = json.loads((project / "data" / "08_reporting" / "node_runs.json").read_text())["nodes"]
    again = completed_kedro_run(LECTURE, project, timeout=600).stdout
    return project, stopped, {name for name, run in finished.items() if run["finished"] is not None}, again


def test_the_rerun_does_not_redo_what_the_stopped_run_finished(lecture):
    project, stopped, finished, again = lecture
    assert "Plan: " in stopped and done_nodes(stopped), stopped[-3000:]
    planned = re.search(r"Plan: (\d+) of (\d+) nodes to run", again)
    rerun = done_nodes(again)
    assert planned is not None and int(planned.group(1)) == len(rerun) < int(planned.group(2)), again[-3000:]
    assert not finished & set(rerun), sorted(finished & set(rerun))
    parts_done = {part for part in done_nodes(stopped).values()} - set(rerun.values())
    assert parts_done, "no part was finished before the stop"  # whole parts are skipped: none of their nodes ran again
    assert set(rerun.values()) - {"page"}, "no part was left to finish after the stop"


def test_the_page_lists_every_claim_of_every_part_with_its_verdict(lecture):
    project = lecture[0]
    reporting = project / "data" / "08_reporting"
    reports = sorted(reporting.glob("*/report.json")) + [reporting / "results.json"]
    assert len(reports) == sum(1 for part in LECTURE_PARTS if part.report)
    page = (reporting / "lecture.md").read_text().splitlines()
    claims = [claim for path in reports for claim in report_from_dict(json.loads(path.read_text())).claims]
    assert claims and all(claim.line() in page for claim in claims), [c.line() for c in claims if c.line() not in page]
    for number, part in enumerate(LECTURE_PARTS, 1):
        heading = next(line for line in page if line.startswith(f"## {number}. {part.title} ("))
        assert not heading.endswith("(—)"), heading  # every part has its recorded time

    html = (reporting / "lecture.html").read_text()
    assert len(re.findall(r'<tr class="claim"', html)) == len(claims)
    assert html.count("data:image/png;base64,") == len(LECTURE_PARTS)

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("practical_dl")
    (made,) = client.search_runs([experiment.experiment_id], filter_string=runs_of("lecture") + " and attributes.status = 'FINISHED'")
    logged = {f.path for f in client.list_artifacts(made.info.run_id, "reports/lecture")}
    assert logged == {"reports/lecture/lecture.md", "reports/lecture/lecture.html"}
    assert {f.path for f in client.list_artifacts(made.info.run_id, "reports/gan")} >= {"reports/gan/report.md", "reports/gan/report.json"}


def test_the_html_page_opens_in_a_browser(lecture, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    page = lecture[0] / "data" / "08_reporting" / "lecture.html"
    shot = Path(os.environ.get("LECTURE_SCREENSHOT") or tmp_path / "lecture.png")
    browser = [str(CHROMIUM), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
    browser += [f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600"]
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count('class="claim"') == page.read_text().count('class="claim"') > 0
    subprocess.run([*browser, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_a_changed_parameter_reruns_only_the_nodes_that_read_it(lecture):
    project = lecture[0]
    changed = completed_kedro_run([*LECTURE, "--params", "lecture.thumbnail_width=300"], project, timeout=300).stdout
    assert set(done_nodes(changed)) == {"make_lecture_page"}, changed[-3000:]
    assert "parameters changed: lecture.thumbnail_width" in changed
    assert "Plan: 1 of " in changed

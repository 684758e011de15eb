"""The load tool: the page's bodies, wrk's script and how its result line becomes a row of the table."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from practical_dl.serving.demo.app import create_app
from practical_dl.tools.load_test import (
    RESULT_MARK,
    cpu_seconds,
    lua_script,
    main,
    markdown,
    page_bodies,
    parse_result,
    peak_rss_mib,
    process_tree,
    run_wrk,
    summarise,
)
from tests.conftest import wait_until_answers
from tests.serving.asgi import call
from tests.serving.demo import JSON, run_with, small_classifiers


def test_the_bodies_are_drawings_the_page_predicts():
    bodies = page_bodies(count=3)
    assert len(set(bodies)) == 3
    app = create_app(small_classifiers())

    async def scenario():
        for body in bodies:
            assert json.loads(body)["image"].startswith("data:image/png;base64,")
            answer = await call(app, "POST", "/api/predict", body.encode(), JSON)
            assert answer.status == 200 and answer.json()["status"] == "ok"

    run_with(app, scenario)
    script = lua_script(bodies)
    assert all(f"[==[{b}]==]" in script for b in bodies) and RESULT_MARK in script


def test_a_wrk_result_becomes_a_row():
    output = (
        "Running 10s test\n"
        + RESULT_MARK
        + json.dumps(
            {
                "requests": 1300,
                "duration_us": 10_000_000,
                "p50_us": 80_000,
                "p99_us": 170_000,
                "max_us": 200_000,
                "ok_p50_us": 90_500,
                "ok_p99_us": 180_250,
                "ok_max_us": 200_000,
                "refused_p50_us": 800,
                "refused_p99_us": 1_450,
                "unmatched": 0,
                "connect_errors": 0,
                "read_errors": 1,
                "write_errors": 0,
                "timeouts": 2,
                "statuses": {"200": 1200, "503": 90, "422": 7},
            }
        )
    )
    row = summarise("after", 32, parse_result(output), 612.4, 1.234)
    assert row.requests_per_s == pytest.approx(120.0)
    assert (row.p50_ms, row.p99_ms) == (pytest.approx(90.5), pytest.approx(180.25))  # of the 200 answers alone
    assert (row.refused_p99_ms, row.all_p99_ms) == (pytest.approx(1.45), pytest.approx(170.0))
    assert row.errors == 7 + 1 + 2 and row.refused_503 == 90
    assert "| 32 | after | 120 | 90.5 | 180.2 | 1.4 | 170.0 | 90 | 10 | 1.23 | 612 |" in markdown([row])
    no_refusals = summarise("after", 1, {**parse_result(output), "refused_p50_us": -1, "refused_p99_us": -1}, 600.0)
    assert "| 1 | after | 120 | 90.5 | 180.2 | – | 170.0 | 90 | 10 | – | 600 |" in markdown([no_refusals])
    with pytest.raises(ValueError, match="no result line"):
        parse_result("wrk: connection refused")


def test_the_process_tree_its_cpu_time_and_memory():
    child = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(60_000_000); time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while child.pid not in process_tree(os.getpid()) or peak_rss_mib(child.pid) < 60:
            assert time.monotonic() < deadline, "the child did not show up in /proc"
            time.sleep(0.05)
        tree = process_tree(os.getpid())
        assert tree[0] == os.getpid() and child.pid in tree
        assert peak_rss_mib(os.getpid()) >= peak_rss_mib(child.pid) + 10  # this process's own, and the child's
        assert cpu_seconds(tree) >= cpu_seconds([os.getpid()]) > 0
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (Debian: apt-get install wrk)")
def test_the_script_times_answers_and_refusals_apart(tmp_path):
    """wrk with the tool's script against the page (in this process, on a free port): the answers are paired with
    their requests through X-Request-ID, the refusals (a limit of 1 in flight) are timed apart, and what comes
    in the warm-up is not counted."""
    import uvicorn

    from practical_dl.serving.demo.limits import Limits

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    server = uvicorn.Server(uvicorn.Config(create_app(small_classifiers(), Limits(max_concurrent=1)), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until_answers(url + "readyz", lambda: None if thread.is_alive() else "its thread ended", "the page", 15, poll_s=0.05)
        script = tmp_path / "page.lua"
        script.write_text(lua_script(page_bodies(count=2), warmup_s=1))
        result = run_wrk(url, script, clients=4, seconds=2, cpu=None)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    row = summarise("page", 4, result, 0.0)
    assert result["statuses"]["200"] > 0 and result["statuses"]["503"] > 0, result
    assert result["unmatched"] == 0
    assert result["window_us"] == result["duration_us"] - 1_000_000 and sum(result["statuses"].values()) < result["requests"]
    assert 0 < row.p50_ms <= row.p99_ms and 0 < row.refused_p99_ms


def test_help(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and "--server" in capsys.readouterr().out

"""The load tool: the page's bodies, wrk's script and how its result line becomes a row of the table."""

from __future__ import annotations

import json

import pytest

from practical_dl.serving.demo.app import create_app
from practical_dl.tools.load_test import RESULT_MARK, lua_script, main, markdown, page_bodies, parse_result, summarise
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
                "p50_us": 90_500,
                "p99_us": 180_250,
                "max_us": 200_000,
                "connect_errors": 0,
                "read_errors": 1,
                "write_errors": 0,
                "timeouts": 2,
                "statuses": {"200": 1200, "503": 90, "422": 7},
            }
        )
    )
    row = summarise("after", 32, parse_result(output), 612.4)
    assert row.requests_per_s == pytest.approx(120.0)
    assert (row.p50_ms, row.p99_ms) == (pytest.approx(90.5), pytest.approx(180.25))
    assert row.errors == 7 + 1 + 2 and row.refused_503 == 90
    assert "| 32 | after | 120 | 90.5 | 180.2 | 10 | 90 | 612 |" in markdown([row])
    with pytest.raises(ValueError, match="no result line"):
        parse_result("wrk: connection refused")


def test_help(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and "--server" in capsys.readouterr().out

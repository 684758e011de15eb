"""Admission by expected wait: how many predictions the page takes on, and what a refusal costs (nothing but headers)."""

from __future__ import annotations

import asyncio
import json

import pytest

from practical_dl.serving.demo.app import create_app
from practical_dl.serving.demo.limits import BURST, Admission, AdmissionControl, Limits
from tests.serving.asgi import call
from tests.serving.demo import JSON, png_data_url, post_predict, run_with, seven, small_classifiers


def test_the_limit_follows_the_measured_pace_between_one_batch_and_the_cap():
    admission = Admission(max_concurrent=64, wait_target_s=0.1, floor=32)
    assert admission.limit() == 64  # nothing measured yet: the cap alone
    admission.observe_batch(32, 32 * 0.002)  # 2 ms a drawing: 50 drawings wait at most 100 ms
    assert admission.limit() == 50
    for _ in range(30):
        admission.observe_batch(32, 32 * 0.010)  # slower (a busy machine): the mean follows
    assert admission.seconds_per_item == pytest.approx(0.010, rel=0.01)
    assert admission.limit() == 32  # 10 drawings would be 100 ms, but one full batch is always admitted
    for _ in range(30):
        admission.observe_batch(16, 16 * 0.0005)  # fast: the target allows 200, the cap says 64
    assert admission.limit() == 64
    admission.observe_batch(0, 0.1)  # nothing to learn from
    assert admission.limit() == 64
    on_two_workers = Admission(max_concurrent=200, wait_target_s=0.1, floor=8, parallel=2, refusals_per_answer=2)
    assert on_two_workers.refusal_interval_s() == 0  # nothing measured: no budget yet
    on_two_workers.observe_batch(10, 10 * 0.002)
    assert on_two_workers.limit() == 100  # each worker answers 50 within the target
    assert on_two_workers.refusal_interval_s() == pytest.approx(1 / 2000)  # 1,000 answers a second, 2 refusals each
    for name in ("wait_target_s", "refusals_per_answer"):
        with pytest.raises(ValueError, match=name):
            Limits(**{name: 0})


def test_refusals_beyond_the_budget_wait_their_turn_and_never_longer_than_retry_after(monkeypatch):
    import practical_dl.serving.demo.limits as limits

    waits: list[float] = []

    async def no_sleep(seconds):  # the waits are recorded, not slept, on a clock that stands still
        waits.append(seconds)

    monkeypatch.setattr(limits.asyncio, "sleep", no_sleep)
    monkeypatch.setattr(limits.time, "monotonic", lambda: 1000.0)

    async def scenario():
        admission = Admission(max_concurrent=1, wait_target_s=0.1, floor=1, refusals_per_answer=1)
        admission.in_flight = 1  # full: every request is refused
        gate = AdmissionControl(Recorder(), admission, paths={"/api/predict"}, retry_after_s=1)
        assert (await call(gate, "POST", "/api/predict", b"{}", JSON)).status == 503
        assert waits == []  # nothing measured yet: no budget
        admission.observe_batch(1, 0.01)  # 100 answers a second: a budget of 100 refusals a second
        for _ in range(BURST + 10):
            assert (await call(gate, "POST", "/api/predict", b"{}", JSON)).status == 503
        assert waits == pytest.approx([0.01 * k for k in range(1, 11)])  # a burst at once, then 10 ms apart
        for _ in range(50):
            admission.observe_batch(1, 100.0)  # a pace so slow that the turn would come after minutes
        waits.clear()
        await call(gate, "POST", "/api/predict", b"{}", JSON)
        assert waits == [1]  # never longer than Retry-After

    asyncio.run(scenario())


def test_a_flood_of_refusals_leaves_no_debt_for_the_refusals_after_it(monkeypatch):
    import practical_dl.serving.demo.limits as limits

    waits: list[float] = []
    clock = [1000.0]

    async def no_sleep(seconds):
        waits.append(seconds)

    monkeypatch.setattr(limits.asyncio, "sleep", no_sleep)
    monkeypatch.setattr(limits.time, "monotonic", lambda: clock[0])

    async def scenario():
        admission = Admission(max_concurrent=1, wait_target_s=0.1, floor=1, refusals_per_answer=1)
        admission.in_flight = 1
        admission.observe_batch(1, 0.01)  # a budget of 100 refusals a second
        gate = AdmissionControl(Recorder(), admission, paths={"/api/predict"}, retry_after_s=1)
        for _ in range(BURST + 300):  # three seconds' worth of refusals at once
            await call(gate, "POST", "/api/predict", b"{}", JSON)
        assert max(waits) == 1
        clock[0] += 1.01  # once Retry-After has passed, the schedule is clear again
        waits.clear()
        await call(gate, "POST", "/api/predict", b"{}", JSON)
        assert waits == []

    asyncio.run(scenario())


def test_refusals_are_logged_once_a_second_with_their_number(caplog):
    from practical_dl.serving.demo.request_id import RequestRecorder

    recorder = RequestRecorder()
    scope = {"type": "http", "method": "POST", "path": "/api/predict", "headers": [], "client": ("127.0.0.1", 1)}
    with caplog.at_level("INFO", logger="practical_dl.serving.demo.access"):
        for _ in range(1000):
            recorder.refusal_headers(scope, 0.001)
    lines = [r.getMessage() for r in caplog.records if "503" in r.getMessage()]
    assert len(lines) == 1 and "(1 refused in" in lines[0]  # the first at once; the rest within the second wait their line


class Recorder:
    """An ASGI app that answers 200 after ``release`` is set, remembering whether it read the body."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self, scope, receive, send) -> None:
        self.calls += 1
        await receive()
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def test_a_refusal_reads_no_body_calls_no_app_and_the_slot_comes_back_with_the_answer():
    async def scenario():
        inner = Recorder()
        admission = Admission(max_concurrent=2, wait_target_s=0.1, floor=1)
        gate = AdmissionControl(inner, admission, paths={"/api/predict"}, retry_after_s=3)
        admitted = [asyncio.create_task(call(gate, "POST", "/api/predict", b"{}", JSON)) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert admission.in_flight == 2 and inner.calls == 2
        received = []

        async def receive():
            received.append(1)
            return {"type": "http.request", "body": b"x", "more_body": False}

        sent = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/api/predict", "headers": []}
        await gate(scope, receive, send)
        assert received == [] and inner.calls == 2  # the body is never read and the app never called
        assert sent[0]["status"] == 503 and (b"retry-after", b"3") in sent[0]["headers"]
        assert json.loads(sent[1]["body"])["status"] == "overloaded"
        inner.release.set()
        assert [a.status for a in await asyncio.gather(*admitted)] == [200, 200]
        assert admission.in_flight == 0
        other = await call(gate, "GET", "/healthz")  # other paths are not counted
        assert other.status == 200 and admission.in_flight == 0 and inner.calls == 3

    asyncio.run(scenario())


def test_the_page_reports_its_admission_limit_in_the_refusal_and_counts_it():
    app = create_app(small_classifiers(), Limits(max_concurrent=1))

    async def scenario():
        first = asyncio.create_task(post_predict(app, png_data_url(seven)))
        await asyncio.sleep(0)  # let it be admitted
        while app.state.admission.in_flight == 0:
            await asyncio.sleep(0.001)
        refused = await post_predict(app, png_data_url(seven))
        assert refused.status == 503 and "1 requests are in flight" in refused.json()["reason"]
        assert refused.headers["x-request-id"] and refused.headers["x-frame-options"] == "DENY"
        assert (await first).status == 200
        metrics = (await call(app, "GET", "/metrics")).body.decode()
        assert 'practical_dl_demo_requests_total{route="/api/predict",status="503"} 1.0' in metrics
        assert "practical_dl_demo_admission_limit 1.0" in metrics

    run_with(app, scenario)

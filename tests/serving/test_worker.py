"""The page's predictions in a worker process: the same answers as in-process, metrics from the worker, a dead worker seen and replaced."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import numpy as np

from practical_dl.serving.demo.app import create_app, predict_drawings
from tests.serving.asgi import call
from tests.serving.demo import png_data_url, post_predict, run_with, seven, small_classifiers


def test_a_worker_process_answers_as_the_page_does_in_process_and_a_dead_one_is_replaced():
    classifiers = small_classifiers()
    app = create_app(classifiers, workers=1)
    drawings = [png_data_url(seven), png_data_url(lambda d: d.ellipse((90, 60, 190, 220), outline="black", width=16))]
    expected = [json.loads(answer) for answer in predict_drawings(classifiers, drawings)]

    async def scenario():
        assert (await call(app, "GET", "/readyz")).status == 200
        for drawing, alone in zip(drawings, expected):
            answer = await post_predict(app, drawing)
            assert answer.status == 200
            got = answer.json()
            assert got["status"] == "ok" and got["input28"] == alone["input28"]
            for a, b in zip(got["models"], alone["models"]):
                assert a["prediction"] == b["prediction"]
                np.testing.assert_allclose(a["probabilities"], b["probabilities"], rtol=0, atol=1e-6)
        assert (await post_predict(app, png_data_url())).json()["status"] == "no_ink"
        unreadable = await post_predict(app, "bm90IGFuIGltYWdl")
        assert unreadable.status == 422 and unreadable.json()["status"] == "unreadable"
        metrics = (await call(app, "GET", "/metrics")).body.decode()
        assert "practical_dl_demo_batch_size_count" in metrics and "practical_dl_demo_batch_size_count 0.0" not in metrics

        (pid,) = app.state.batcher.pids
        assert pid != os.getpid()
        os.kill(pid, signal.SIGSTOP)  # a drawing in its hands when it dies gets the page's 500, not a bare error
        in_hand = asyncio.ensure_future(post_predict(app, png_data_url(seven)))
        await asyncio.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        lost = await in_hand
        assert lost.status == 500 and lost.json()["status"] == "error" and "send it again" in lost.json()["reason"]
        deadline = time.monotonic() + 10
        while app.state.batcher.running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        ready = await call(app, "GET", "/readyz")
        assert ready.status == 503 and ready.json()["status"] == "not_ready"
        refused = await post_predict(app, png_data_url(seven))
        assert refused.status == 503 and refused.json()["status"] == "overloaded" and "not running" in refused.json()["reason"]

        deadline = time.monotonic() + 120  # a new worker takes its place: spawned, torch imported, the classifiers loaded
        while not app.state.batcher.running and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert app.state.batcher.pids != [pid] and (await call(app, "GET", "/readyz")).status == 200
        assert (await post_predict(app, drawings[0])).json()["input28"] == expected[0]["input28"]

    run_with(app, scenario)

"""The micro-batcher: concurrent callers share one call, each gets its own result; batched equals unbatched."""

from __future__ import annotations

import asyncio
import json
import threading

import numpy as np
import pytest

from practical_dl.serving.batching import MicroBatcher
from practical_dl.serving.demo.app import predict_drawings
from practical_dl.serving.inference import probabilities_per_image
from tests.serving.demo import png_data_url, small_classifiers


def run(scenario):
    return asyncio.run(scenario())


def test_concurrent_callers_share_batches_and_each_gets_its_own_result():
    calls: list[list[int]] = []

    def double(items):
        calls.append(list(items))
        return [2 * x for x in items]

    async def scenario():
        batcher = MicroBatcher(double, max_batch=4, window_s=0.05)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(k) for k in range(10)))
        await batcher.stop()
        return results

    assert run(scenario) == [2 * k for k in range(10)]
    assert sorted(x for batch in calls for x in batch) == list(range(10))
    assert max(len(batch) for batch in calls) == 4  # never more than max_batch
    assert len(calls) <= 4  # 10 items in batches: 1 (a lone first item goes at once), then 4, 4 and the rest


def test_a_lone_request_does_not_wait_out_the_window():
    async def scenario():
        batcher = MicroBatcher(lambda items: items, max_batch=8, window_s=5.0)
        await batcher.start()
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await batcher.submit("alone") == "alone"
        took = loop.time() - start
        await batcher.stop()
        return took

    assert run(scenario) < 2.0  # far below the 5 s window


def test_a_busy_batcher_takes_what_waits_and_goes_without_waiting_out_the_window():
    calls: list[list[str]] = []
    release = threading.Event()

    def process(items):
        calls.append(list(items))
        release.wait(10)  # the first batch is slow: the next items wait in the queue meanwhile
        return items

    async def scenario():
        batcher = MicroBatcher(process, max_batch=8, window_s=5.0)
        await batcher.start()
        first = [asyncio.ensure_future(batcher.submit(x)) for x in "ab"]
        while not calls:
            await asyncio.sleep(0.01)
        waiting = [asyncio.ensure_future(batcher.submit(x)) for x in "cd"]
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        start = loop.time()
        release.set()
        assert await asyncio.gather(*first, *waiting) == list("abcd")
        took = loop.time() - start
        await batcher.stop()
        return took

    assert run(scenario) < 2.0  # far below the 5 s window: c and d were waiting, so their batch went at once
    assert calls == [["a", "b"], ["c", "d"]]


def test_a_failing_batch_fails_its_callers_and_the_batcher_goes_on():
    def process(items):
        if "bad" in items:
            raise RuntimeError("boom")
        return items

    async def scenario():
        batcher = MicroBatcher(process, max_batch=1, window_s=0)
        await batcher.start()
        with pytest.raises(RuntimeError, match="boom"):
            await batcher.submit("bad")
        assert await batcher.submit("good") == "good"
        assert batcher.running
        await batcher.stop()
        assert not batcher.running
        with pytest.raises(RuntimeError, match="not running"):
            await batcher.submit("late")

    run(scenario)


def test_a_caller_gone_before_its_batch_is_left_out():
    seen: list[list[str]] = []

    def process(items):
        seen.append(list(items))
        return items

    async def scenario():
        batcher = MicroBatcher(process, max_batch=8, window_s=0)
        await batcher.start()
        gone = asyncio.ensure_future(batcher.submit("gone"))
        gone.cancel()  # cancelled before the worker takes it (a deadline passed)
        assert await batcher.submit("here") == "here"
        await batcher.stop()

    run(scenario)
    assert ["gone"] not in seen and all("gone" not in batch for batch in seen)


def test_batched_probabilities_equal_unbatched_ones():
    classifiers = small_classifiers()  # SimpLeNet+ has batch norm and dropout: eval mode must hold
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(8, 28, 28), dtype=np.uint8)
    together = probabilities_per_image(classifiers, images)
    for k in range(8):
        alone = probabilities_per_image(classifiers, images[k : k + 1])[0]
        for name in classifiers:
            np.testing.assert_allclose(together[k][name], alone[name], rtol=0, atol=1e-6)


def test_the_page_answers_a_drawing_alike_alone_and_in_a_batch_with_bad_ones():
    classifiers = small_classifiers()
    drawings = [
        png_data_url(lambda d, k=k: d.line([(60 + 10 * k, 50), (200, 70 + 5 * k), (110, 230)], fill="black", width=18)) for k in range(6)
    ]
    batch = [drawings[0], "not base64!", *drawings[1:], png_data_url()]
    answers = predict_drawings(classifiers, batch)
    assert answers[1].status_code == 422 and answers[1].status == "unreadable"
    assert json.loads(answers[-1])["status"] == "no_ink"
    batched = [json.loads(a) for a in answers if isinstance(a, bytes) and json.loads(a)["status"] == "ok"]
    assert len(batched) == 6
    for drawing, together in zip(drawings, batched):
        alone = json.loads(predict_drawings(classifiers, [drawing])[0])
        assert alone["input28"] == together["input28"]
        for a, b in zip(alone["models"], together["models"]):
            assert a["prediction"] == b["prediction"]
            np.testing.assert_allclose(a["probabilities"], b["probabilities"], rtol=0, atol=1e-6)


def test_a_drawing_that_breaks_the_preparation_fails_alone(monkeypatch):
    import practical_dl.serving.demo.drawings as page

    real = page.read_drawing
    monkeypatch.setattr(page, "read_drawing", lambda image: (_ for _ in ()).throw(KeyError("bug")) if image == "boom" else real(image))
    answers = predict_drawings(small_classifiers(), [png_data_url(), "boom", png_data_url()])
    assert answers[1].status_code == 500 and "boom" not in answers[1].reason
    assert [json.loads(answers[k])["status"] for k in (0, 2)] == ["no_ink", "no_ink"]

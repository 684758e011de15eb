"""Batching across requests: concurrent callers share one call of a batch function (one forward pass).

A :class:`MicroBatcher` is one asyncio queue and one worker task in the server's event loop. The
worker takes the first waiting item, gathers more until it has ``max_batch`` or ``window_s`` has
passed since the first, calls ``process`` once on the list in a thread of its own (so the event loop
keeps answering meanwhile) and hands each caller its result. While a batch is processed the next
one gathers in the queue, so under load batches grow by themselves; the window only helps at
moderate load: it is skipped after a batch of one (a lone client is served at once) and when items
already wait (a busy server takes them and goes, instead of idling for the window).

``process`` may prepare each item and then run the networks once on all of them: one thread doing
all the CPU work of the batch does not fight other threads for the GIL (see docs/using-models.md,
"Serving beyond one laptop"). The classifiers are in eval mode (no batch-norm batch statistics, no
dropout), so an item's result does not depend on the others in its batch
(tests/serving/test_batching.py checks it to 1e-6).

Use it from async code::

    batcher = MicroBatcher(process, max_batch=32, window_s=0.003)
    await batcher.start()
    result = await batcher.submit(item)        # process([..., item, ...])[its index]
    future = batcher.enqueue(item)             # the same, as a future (no coroutine, no task)
    await batcher.stop()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

logger = logging.getLogger(__name__)

#: ``process(items)`` -> a sequence of as many results, in order.
Process = Callable[[list[Any]], Sequence[Any]]


class MicroBatcher:
    """Gathers items submitted from concurrent requests into batches of at most ``max_batch``,
    waiting at most ``window_s`` after the first one, and processes each batch with one call."""

    def __init__(
        self,
        process: Process,
        max_batch: int = 32,
        window_s: float = 0.003,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if window_s < 0:
            raise ValueError(f"window_s must not be negative, got {window_s}")
        self.process = process
        self.max_batch = max_batch
        self.window_s = window_s
        self.on_batch = on_batch  # called with (batch size, seconds the call took)
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future]] | None = None
        self._worker: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._last_size = 0

    @property
    def running(self) -> bool:
        """Whether the worker task is alive (``/readyz`` asks)."""
        return self._worker is not None and not self._worker.done()

    async def start(self) -> None:
        """Start the worker in the running event loop."""
        if self.running:
            return
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="micro-batcher")
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        """Stop the worker; callers still waiting get a RuntimeError."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        if self._queue is not None:
            while not self._queue.empty():
                _, future = self._queue.get_nowait()
                if not future.done():
                    future.set_exception(RuntimeError("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def submit(self, item: Any) -> Any:
        """``process``'s result for ``item``, batched with whatever else waits."""
        return await self.enqueue(item)

    def enqueue(self, item: Any) -> asyncio.Future:
        """The future of ``process``'s result for ``item`` (cancel it to leave the item out, if not yet taken)."""
        if not self.running or self._queue is None:
            raise RuntimeError("the micro-batcher is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return future

    async def _gather(self) -> list[tuple[Any, asyncio.Future]]:
        assert self._queue is not None
        items = [await self._queue.get()]
        # wait for company only if none is there yet: after a batch of one a lone client does not wait, and when
        # drawings already wait (the server is busy) the batch takes them and goes, its worker never idle for the window
        backlog = not self._queue.empty()
        window = self.window_s if self._last_size > 1 and not backlog else 0.0
        deadline = time.monotonic() + window
        while len(items) < self.max_batch:
            if not self._queue.empty():
                items.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                items.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:  # TimeoutError from Python 3.11 on
                break
        self._last_size = len(items)
        return [(item, future) for item, future in items if not future.done()]  # callers past their deadline are gone

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            if not batch:
                continue
            start = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self.process, [item for item, _ in batch])
            except Exception as exc:  # one bad batch fails its callers, not the server
                logger.exception("processing a batch of %d failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            if self.on_batch is not None:
                self.on_batch(len(batch), time.perf_counter() - start)
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

"""The page's predictions in worker processes: preparation and forward passes beside the event loop, not under it.

:class:`PredictionWorkers` has the interface of :class:`~practical_dl.serving.batching.MicroBatcher`
(``start``, ``submit``, ``stop``, ``running``) and hands each drawing to one of ``count`` worker
processes (started with ``spawn``), the one with the fewest drawings in hand. Each worker batches
what it receives with a MicroBatcher of its own and answers every drawing with the bytes of its JSON
answer or the refusal why not (:func:`~practical_dl.serving.demo.drawings.predict_drawings`), one batch at
a time, with one torch thread. ``practical-dl-demo`` starts one worker per core: no two threads of one
process fight for its GIL (with fewer workers than cores, each prepares its drawings in a thread per core).

Why processes: in one process the event loop and the threads that prepare and classify share
Python's GIL. Under overload the event loop is busy all the time (every refused request is Python
work), and each time a worker thread comes back from C code that released the GIL (decoding a PNG,
a NumPy or torch operation) it waits for the loop to give the GIL up, up to the switch interval
(5 ms): batches of 16 took 180 ms instead of 30 and the page answered 26 drawings a second at 128
clients where it answered 300 at 32 (docs/benchmarks.md). In processes of their own the work has
GILs of its own; the event loop only reads requests, refuses or forwards them, and writes answers.

A process and its workers talk over a socket pair each: frames of a 4-byte length and a pickle. To
the worker: ``(id, image)``; from it: ``("ready", pid)`` once, ``(id, ok, payload)`` per drawing (the
answer's bytes, or ``(status code, status, reason)`` of a refusal) and ``("batch", size, seconds)``
per batch, which the server's metrics and its admission control observe.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from practical_dl.serving.demo.schemas import Refusal

logger = logging.getLogger(__name__)

HEADER = struct.Struct("!I")
SHUT_DOWN = Refusal(503, "overloaded", "the server is shutting down")
WORKER_LOST = Refusal(500, "error", "the process preparing this drawing stopped; send it again")


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    size = HEADER.unpack(await reader.readexactly(HEADER.size))[0]
    return pickle.loads(await reader.readexactly(size))


def _frame(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _serve(sock: socket.socket, classifiers_pickle: bytes, max_batch: int, window_s: float, threads: int) -> None:
    """A worker process: load the classifiers, then answer drawings until the server closes the socket. With
    ``threads`` > 1 a batch's drawings are prepared in that many threads (decoding releases the GIL)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole process group: the server stops its workers
    import torch

    from practical_dl.serving.batching import MicroBatcher
    from practical_dl.serving.demo.drawings import predict_drawings

    torch.set_num_threads(1)  # the forward pass in the batcher's thread; other cores prepare drawings or run other workers
    classifiers = pickle.loads(classifiers_pickle)
    for classifier in classifiers.values():
        classifier.eval()
    gc.collect()
    gc.freeze()  # the classifiers and torch live as long as the process: out of the collector's full passes

    async def serve() -> None:
        reader, writer = await asyncio.open_connection(sock=sock)

        def report(size: int, seconds: float) -> None:
            writer.write(_frame(("batch", size, seconds)))

        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="prepare-drawings") if threads > 1 else None
        batcher = MicroBatcher(functools.partial(predict_drawings, classifiers, pool=pool), max_batch, window_s, on_batch=report)
        await batcher.start()
        writer.write(_frame(("ready", os.getpid())))

        def answer(request_id: int, future: asyncio.Future) -> None:
            if future.cancelled():
                return
            exc = future.exception()
            if exc is not None:  # a failed batch: its drawings get a 500; the server and the worker go on
                writer.write(_frame((request_id, False, (500, "error", f"the prediction failed ({type(exc).__name__})"))))
                return
            result = future.result()
            if isinstance(result, Refusal):
                writer.write(_frame((request_id, False, (result.status_code, result.status, result.reason))))
            else:
                writer.write(_frame((request_id, True, result)))

        try:
            while True:
                request_id, image = await _read_frame(reader)
                batcher.enqueue(image).add_done_callback(functools.partial(answer, request_id))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the server closed the socket: stop
        finally:
            await batcher.stop()
            writer.close()
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    try:
        import uvloop  # what uvicorn runs the server's loop on, where installed
    except ImportError:
        asyncio.run(serve())
    else:
        uvloop.run(serve())


class _Worker:
    """One worker process as the server sees it: its socket's writer, the task reading its answers, what it has in hand."""

    def __init__(self, process: multiprocessing.process.BaseProcess, writer: asyncio.StreamWriter) -> None:
        self.process = process
        self.writer = writer
        self.reader_task: asyncio.Task | None = None
        self.pending: dict[int, asyncio.Future] = {}

    @property
    def alive(self) -> bool:
        return self.reader_task is not None and not self.reader_task.done()


class PredictionWorkers:
    """``count`` worker processes that prepare and classify the page's drawings in batches (the interface of a MicroBatcher).

    ``submit(image)`` gives the bytes of the drawing's JSON answer or the :class:`Refusal` why not; ``on_batch`` is
    called with each batch's size and the seconds its worker took. A worker that dies answers the drawings it had
    in hand with a 500 refusal, gets none after, and is replaced by a new one; ``running`` (``/readyz``) is True
    while at least one worker answers."""

    def __init__(
        self,
        classifiers: Mapping[str, Any],
        count: int = 1,
        max_batch: int = 32,
        window_s: float = 0.003,
        on_batch: Callable[[int, float], None] | None = None,
        start_timeout_s: float = 120.0,
        threads: int = 1,
    ) -> None:
        if count < 1:
            raise ValueError(f"the page needs at least one worker process, got {count}")
        self.classifiers_pickle = pickle.dumps(dict(classifiers), protocol=pickle.HIGHEST_PROTOCOL)
        self.count = int(count)
        self.max_batch = int(max_batch)
        self.window_s = float(window_s)
        self.on_batch = on_batch
        self.start_timeout_s = start_timeout_s
        self.threads = int(threads)
        self._workers: list[_Worker] = []
        self._ids = itertools.count()
        self._stopping = False
        self._restarts: set[asyncio.Task] = set()

    @property
    def running(self) -> bool:
        """Whether at least one worker answers (``/readyz`` asks)."""
        return any(worker.alive for worker in self._workers)

    @property
    def pids(self) -> list[int]:
        """The workers' process ids."""
        return [worker.process.pid for worker in self._workers if worker.process.pid is not None]

    async def start(self) -> None:
        """Start the workers and wait until each has loaded the classifiers."""
        if self._workers:
            return
        self._stopping = False
        try:
            for k in range(self.count):
                self._workers.append(await self._spawn(k))
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            await self.stop()
            raise RuntimeError("the page's worker processes did not start") from None

    async def _spawn(self, k: int) -> _Worker:
        """Worker ``k``, started and its classifiers loaded, its answers read by a task of its own."""
        context = multiprocessing.get_context("spawn")  # not fork: torch's thread pools do not survive it
        ours, theirs = socket.socketpair()
        process = context.Process(
            target=_serve,
            args=(theirs, self.classifiers_pickle, self.max_batch, self.window_s, self.threads),
            name=f"practical-dl-demo-worker-{k}",
            daemon=True,
        )
        try:
            process.start()
        finally:
            theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        worker = _Worker(process, writer)
        try:
            await asyncio.wait_for(_read_frame(reader), self.start_timeout_s)  # ("ready", pid)
        except BaseException:
            writer.close()
            process.kill()
            raise
        worker.reader_task = asyncio.get_running_loop().create_task(self._read(worker, reader), name=f"answers-of-{process.name}")
        return worker

    async def _read(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                message = await _read_frame(reader)
                if message[0] == "batch":
                    if self.on_batch is not None:
                        self.on_batch(message[1], message[2])
                    continue
                request_id, ok, payload = message
                future = worker.pending.pop(request_id, None)
                if future is not None and not future.done():  # else its caller is gone (past its deadline)
                    future.set_result(payload if ok else Refusal(*payload))
        except (asyncio.IncompleteReadError, ConnectionError):
            if not self._stopping:
                await asyncio.get_running_loop().run_in_executor(None, worker.process.join, 5)
                logger.error("the worker process %s ended (exit code %s): starting another", worker.process.name, worker.process.exitcode)
                restart = asyncio.get_running_loop().create_task(self._replace(worker))
                self._restarts.add(restart)
                restart.add_done_callback(self._restarts.discard)
        finally:
            self._fail(worker, SHUT_DOWN if self._stopping else WORKER_LOST)

    async def _replace(self, dead: _Worker) -> None:
        """Start a worker in the place of ``dead`` (the others answer meanwhile)."""
        try:
            k = self._workers.index(dead)
            self._workers[k] = await self._spawn(k)
        except ValueError:  # stopped meanwhile
            return
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            logger.error("a new worker process did not start; %d of %d answer", sum(w.alive for w in self._workers), self.count)

    @staticmethod
    def _fail(worker: _Worker, refusal: Refusal) -> None:
        pending, worker.pending = worker.pending, {}
        for future in pending.values():
            if not future.done():  # each request raises a Refusal of its own
                future.set_result(Refusal(refusal.status_code, refusal.status, refusal.reason, dict(refusal.headers)))

    async def submit(self, image: str) -> bytes | Refusal:
        """The drawing's answer (the bytes of its JSON) or the :class:`Refusal` why not."""
        return await self.enqueue(image)

    def enqueue(self, image: str) -> asyncio.Future:
        """The future of the drawing's answer (cancelling it only forgets the answer when it comes)."""
        alive = [worker for worker in self._workers if worker.alive]
        if not alive:
            raise Refusal(503, "overloaded", "the server is not ready: its worker processes are not running")
        worker = min(alive, key=lambda w: len(w.pending))  # the one with the least in hand
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        worker.pending[request_id] = future
        worker.writer.write(_frame((request_id, image)))
        return future

    async def stop(self) -> None:
        """Stop the workers: close their sockets (each exits at the end of its stream), then wait for them, briefly."""
        self._stopping = True
        for restart in list(self._restarts):
            restart.cancel()
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.writer.close()
            if worker.reader_task is not None:
                worker.reader_task.cancel()
        for worker in workers:
            if worker.reader_task is not None:
                try:
                    await worker.reader_task
                except asyncio.CancelledError:
                    pass
            self._fail(worker, SHUT_DOWN)
        loop = asyncio.get_running_loop()
        for worker in workers:
            await loop.run_in_executor(None, worker.process.join, 10)
            if worker.process.is_alive():
                worker.process.kill()
                await loop.run_in_executor(None, worker.process.join, 5)

"""Limits before work: the largest body, how much work is taken on, the longest a request may take.

Pure ASGI middleware, so that a refusal costs no more than reading the request's headers:

* :class:`BodySizeLimit` answers 413 to a body over ``max_bytes`` before reading it: at once when
  ``Content-Length`` says so, and, for a body without one (chunked), as soon as the bytes counted so
  far pass the limit; what the app receives was read only up to the limit.
* :class:`AdmissionControl` answers 503 with ``Retry-After``, before the body is read, when taking the
  request on would make it wait longer than a target for the work already admitted (:class:`Admission`:
  admission by expected wait, capped at ``max_concurrent``). The work admitted stays what the server
  finishes in about the target however many clients press, so the accepted requests keep their latency
  and the server its throughput; a refusal costs no preparation and no forward pass. Refusals go at
  once while they are fewer than ``refusals_per_answer`` for each drawing the server answers; beyond
  that (clients that ask again at once, ignoring ``Retry-After``) each waits its turn, costing nothing
  meanwhile, so that refusing never takes the cores the answers need (docs/using-models.md says why
  this and not a longer queue, LIFO or CoDel).
* :func:`within_deadline` turns a request that takes longer than its deadline into a 504.

Each refusal has the page's problem body, ``{"status": ..., "reason": ...}``
(:class:`~practical_dl.serving.demo.schemas.Problem`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from practical_dl.serving.demo.schemas import Refusal, problem_body

T = TypeVar("T")
Scope = dict[str, Any]
BURST = 32  # refusals that may go at once before the budget paces them


@dataclass(frozen=True)
class Limits:
    """How much work the page accepts (its command's flags set them; docs/using-models.md)."""

    max_body_bytes: int = 2 * 1024 * 1024  # a drawing is a few kB of PNG in base64
    max_concurrent: int = 64  # requests to /api/predict in flight at once, at most; more get 503
    wait_target_s: float = 0.06  # a request is admitted if the work ahead of it takes about this long at most
    refusals_per_answer: float = 0.5  # refusals sent at once per drawing answered; more wait their turn
    deadline_s: float = 10.0  # longest a prediction may take; longer gets 504
    retry_after_s: int = 1  # what a 503 tells the client to wait

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_concurrent", "retry_after_s"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("deadline_s", "wait_target_s", "refusals_per_answer"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


class Admission:
    """Admission by expected wait: how many predictions may be in flight (waiting or running) at once.

    The batcher reports every batch (:meth:`observe_batch`); from them an exponentially weighted mean
    of the seconds per drawing. A request is admitted while the drawings already admitted would take
    at most ``wait_target_s`` at that pace on ``parallel`` workers (:meth:`limit`), and never more than
    ``max_concurrent``; ``floor`` drawings (one full batch) are always admitted, so that a burst on a
    fresh or idle server, whose small batches are slow per drawing, is not refused. The same pace gives
    the refusals' budget (:meth:`refusal_interval_s`). The event loop is the only caller: no lock.
    """

    SMOOTHING = 0.2  # weight of the newest batch in the mean

    def __init__(self, max_concurrent: int, wait_target_s: float, floor: int, parallel: int = 1, refusals_per_answer: float = 0.5):
        self.max_concurrent = int(max_concurrent)
        self.wait_target_s = float(wait_target_s)
        self.floor = min(int(floor), self.max_concurrent)
        self.parallel = max(1, int(parallel))
        self.refusals_per_answer = float(refusals_per_answer)
        self.in_flight = 0
        self.seconds_per_item = 0.0  # nothing measured yet: the cap alone limits
        self._limit = self.max_concurrent

    def limit(self) -> int:
        """The most predictions in flight now."""
        return self._limit

    def observe_batch(self, size: int, seconds: float) -> None:
        """One batch of ``size`` drawings took ``seconds`` (preparation, forward passes and answers)."""
        if size < 1 or seconds <= 0:
            return
        per_item = seconds / size
        mean = self.seconds_per_item
        self.seconds_per_item = per_item if mean == 0 else mean + self.SMOOTHING * (per_item - mean)
        self._limit = max(self.floor, min(self.max_concurrent, int(self.parallel * self.wait_target_s / self.seconds_per_item)))

    def refusal_interval_s(self) -> float:
        """The least time between refusals beyond the budget: ``refusals_per_answer`` per drawing the server answers
        at its measured pace (0 before anything was measured: no budget yet)."""
        if self.seconds_per_item == 0:
            return 0.0
        return self.seconds_per_item / (self.parallel * self.refusals_per_answer)


async def send_problem(send, status_code: int, status: str, reason: str, headers: dict[str, str] | None = None) -> None:
    """Answer with a problem body from ASGI middleware (the request's body is left unread)."""
    body = problem_body(status, reason)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status_code, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


class BodySizeLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 before it is read whole."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    def _too_large(self, send, what: str):
        return send_problem(
            send,
            413,
            "too_large",
            f"the request body is too large: {what}; this server accepts at most {self.max_bytes:,} bytes (a drawing is a few kB)",
            {"Connection": "close"},
        )

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return await send_problem(send, 400, "invalid_request", "the Content-Length header is not a number")
            if declared > self.max_bytes:
                return await self._too_large(send, f"Content-Length {declared:,} bytes")
            return await self.app(scope, receive, send)  # the server reads no more than Content-Length
        if _header(scope, b"transfer-encoding") is None:
            return await self.app(scope, receive, send)  # no body
        # a body of unknown length (chunked): read it here, counting, up to the limit, then hand it on
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await self._too_large(send, f"more than {self.max_bytes:,} bytes sent (chunked)")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, delivered = b"".join(chunks), False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later: the disconnect

        await self.app(scope, replay, send)


class AdmissionControl:
    """ASGI middleware: requests to ``paths`` are admitted while :class:`Admission` allows; others get 503.

    The refusal is decided on the request's headers, before its body is read, and answered with bytes
    made once per limit: no preparation, no forward pass, no JSON encoding. It goes at once within the
    refusals' budget (:meth:`Admission.refusal_interval_s`, after a burst of :data:`BURST`); beyond it,
    it waits its turn on a timer, at most ``Retry-After``. ``headers`` go with every refusal;
    ``on_refusal(scope)`` (if given) records one and gives headers of its own (its request id): the
    page puts this middleware in front of all others, which a refusal never reaches."""

    def __init__(
        self,
        app,
        admission: Admission,
        paths: Collection[str],
        retry_after_s: int = 1,
        headers: Collection[tuple[bytes, bytes]] = (),
        on_refusal: Callable[[Scope, float], list[tuple[bytes, bytes]]] | None = None,
    ) -> None:
        self.app = app
        self.admission = admission
        self.paths = frozenset(paths)
        self.retry_after_s = int(retry_after_s)
        self.headers = list(headers)
        self.on_refusal = on_refusal
        self._refusals: dict[int, tuple[dict, dict]] = {}  # limit -> (start message, body message)
        self._next_refusal = 0.0  # the refusals' schedule (time.monotonic): when the last one paced may go

    def _refusal(self, limit: int) -> tuple[dict, dict]:
        made = self._refusals.get(limit)
        if made is None:
            body = problem_body(
                "overloaded",
                f"the server is busy: {limit} requests are in flight, as many as it takes on; retry in {self.retry_after_s} s",
            )
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            headers += [(b"retry-after", str(self.retry_after_s).encode()), *self.headers]
            made = self._refusals[limit] = (
                {"type": "http.response.start", "status": 503, "headers": headers},
                {"type": "http.response.body", "body": body},
            )
        return made

    async def _wait_for_turn(self) -> None:
        """Within the refusals' budget: at once; beyond it, after the refusals before this one (an asyncio timer, no work).
        A burst of :data:`BURST` refusals goes at once; the wait is never longer than ``Retry-After``."""
        interval = self.admission.refusal_interval_s()
        if interval <= 0:
            return
        now = time.monotonic()
        # the schedule runs at most Retry-After ahead: a flood leaves no debt that later refusals would pay
        self._next_refusal = min(max(now - BURST * interval, self._next_refusal) + interval, now + self.retry_after_s)
        wait = self._next_refusal - now
        if wait > 0:
            await asyncio.sleep(min(wait, self.retry_after_s))

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)
        admission = self.admission
        limit = admission.limit()
        if admission.in_flight >= limit:
            # refused at the door; a paced refusal stays one (admitted after its wait, it would be an answer that late)
            came = time.perf_counter()
            start, body = self._refusal(limit)
            await self._wait_for_turn()
            if self.on_refusal is not None:
                start = {**start, "headers": [*start["headers"], *self.on_refusal(scope, time.perf_counter() - came)]}
            await send(start)
            await send(body)
            return
        admission.in_flight += 1
        done = False

        def finish() -> None:
            nonlocal done
            if not done:
                done = True
                admission.in_flight -= 1

        async def send_and_count(message):
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finish()  # answered: its client may send the next request before this call has unwound

        try:
            await self.app(scope, receive, send_and_count)
        finally:
            finish()


async def within_deadline(work: Awaitable[T], seconds: float) -> T:
    """``await work``, or a 504 :class:`~practical_dl.serving.demo.schemas.Refusal` after ``seconds``."""
    try:
        return await asyncio.wait_for(work, seconds)
    except asyncio.TimeoutError:  # TimeoutError from Python 3.11 on
        raise Refusal(504, "deadline_exceeded", f"the prediction took longer than the server's deadline of {seconds:g} s") from None

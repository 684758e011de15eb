"""Limits before work: the largest body, the most requests in flight, the longest a request may take.

Pure ASGI middleware, so that a refusal costs no more than reading the request's headers:

* :class:`BodySizeLimit` answers 413 to a body over ``max_bytes`` before reading it: at once when
  ``Content-Length`` says so, and, for a body without one (chunked), as soon as the bytes counted so
  far pass the limit; what the app receives was read only up to the limit.
* :class:`ConcurrencyLimit` answers 503 with ``Retry-After`` at once when ``max_concurrent`` requests
  to the guarded paths are already in flight, instead of queueing without bound.
* :func:`within_deadline` turns a request that takes longer than its deadline into a 504.

Each refusal has the page's problem body, ``{"status": ..., "reason": ...}``
(:class:`~practical_dl.serving.demo.schemas.Problem`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from practical_dl.serving.demo.schemas import Refusal, problem_body

T = TypeVar("T")
Scope = dict[str, Any]


@dataclass(frozen=True)
class Limits:
    """How much work the page accepts (its command's flags set them; docs/using-models.md)."""

    max_body_bytes: int = 2 * 1024 * 1024  # a drawing is a few kB of PNG in base64
    max_concurrent: int = 64  # requests to /api/predict in flight at once; more get 503
    deadline_s: float = 10.0  # longest a prediction may take; longer gets 504
    retry_after_s: int = 1  # what a 503 tells the client to wait

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_concurrent", "retry_after_s"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.deadline_s > 0:
            raise ValueError(f"deadline_s must be positive, got {self.deadline_s}")


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


class ConcurrencyLimit:
    """ASGI middleware: at most ``max_concurrent`` requests to ``paths`` in flight; more get 503 at once."""

    def __init__(self, app, max_concurrent: int, paths: Collection[str], retry_after_s: int = 1) -> None:
        self.app = app
        self.max_concurrent = int(max_concurrent)
        self.paths = frozenset(paths)
        self.retry_after_s = int(retry_after_s)
        self.in_flight = 0  # one event loop: no lock needed

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)
        if self.in_flight >= self.max_concurrent:
            return await send_problem(
                send,
                503,
                "overloaded",
                f"the server is busy: {self.max_concurrent} requests are in flight; retry in {self.retry_after_s} s",
                {"Retry-After": str(self.retry_after_s)},
            )
        self.in_flight += 1
        done = False

        def finish() -> None:
            nonlocal done
            if not done:
                done = True
                self.in_flight -= 1

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

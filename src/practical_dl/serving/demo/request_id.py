"""Each request's id, its log line and its metrics.

:class:`RequestContext` (ASGI middleware) takes the client's ``X-Request-ID`` when it is sane (1 to
128 letters, digits and ``-_.:``), else makes one (32 hex digits: a random prefix per server and a
counter, no system call per request), echoes it in the response, keeps it in :data:`REQUEST_ID` while
the request runs (so every log line written meanwhile can carry it: :class:`RequestIdFilter`), writes
one access line per request and counts the request in the server's
:class:`~practical_dl.serving.metrics.ServingMetrics`. Refusals for overload (503) are many when they
come: they get one line a second, with their number, instead of a line each.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Collection
from contextvars import ContextVar
from typing import Any

from practical_dl.serving.metrics import ServingMetrics

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
access_logger = logging.getLogger("practical_dl.serving.demo.access")


class RequestIdFilter(logging.Filter):
    """Gives every log record a ``request_id`` attribute (``-`` outside a request), for ``%(request_id)s`` in a format."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class RequestRecorder:
    """The request ids, access lines and metrics of one server, for :class:`RequestContext` and for the admission
    control, which answers its refusals before the request reaches the middleware."""

    def __init__(self, metrics: ServingMetrics | None = None, routes: Collection[str] = ()) -> None:
        self.metrics = metrics
        self.routes = frozenset(routes)  # known paths are their own label; anything else counts as "other"
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count(1)
        self._refused = 0  # 503s not logged yet
        self._refused_since = time.monotonic()
        self._refusal_line = -1.0  # when (time.monotonic) the last line on refusals was written

    def request_id(self, scope: dict[str, Any]) -> str:
        """The client's ``X-Request-ID`` if it is sane, else a new one."""
        given = next((v for k, v in scope.get("headers", ()) if k.lower() == b"x-request-id"), None)
        if given is not None and SANE_ID.fullmatch(given):
            return given.decode("ascii")
        return f"{self._prefix}{next(self._counter):016x}"

    def record(self, scope: dict[str, Any], status: int, seconds: float) -> None:
        """Count an answered request and write its access line (503s: one line a second)."""
        path = scope["path"]
        if self.metrics is not None:
            self.metrics.observe_request(path if path in self.routes else "other", status, seconds)
        client = (scope.get("client") or ("-", 0))[0]
        if status != 503:
            access_logger.info('%s "%s %s" %d %.1f ms', client, scope["method"], path, status, 1000 * seconds)
            return
        now = time.monotonic()
        if self._refused == 0:
            self._refused_since = now
        self._refused += 1
        if now - self._refusal_line >= 1.0:  # the first refusal after a quiet second, then one line a second
            since = now - self._refused_since
            access_logger.info('%s "%s %s" 503 (%d refused in %.1f s)', client, scope["method"], path, self._refused, since)
            self._refused, self._refusal_line = 0, now

    def refusal_headers(self, scope: dict[str, Any], seconds: float = 0.0) -> list[tuple[bytes, bytes]]:
        """Record a request refused before the middleware (a 503 for overload, ``seconds`` after it came); the header with its id."""
        request_id = self.request_id(scope)
        token = REQUEST_ID.set(request_id)
        try:
            self.record(scope, 503, seconds)
        finally:
            REQUEST_ID.reset(token)
        return [(b"x-request-id", request_id.encode())]


class RequestContext:
    """ASGI middleware: the request id, one access log line and the request's metrics (:class:`RequestRecorder`)."""

    def __init__(self, app, metrics: ServingMetrics | None = None, routes: Collection[str] = (), recorder: RequestRecorder | None = None):
        self.app = app
        self.recorder = recorder or RequestRecorder(metrics, routes)

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = self.recorder.request_id(scope)
        token = REQUEST_ID.set(request_id)
        start = time.perf_counter()
        status = 500  # if the app fails before it answers

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.recorder.record(scope, status, time.perf_counter() - start)
            REQUEST_ID.reset(token)

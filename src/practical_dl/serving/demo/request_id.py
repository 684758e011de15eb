"""Each request's id, its log line and its metrics.

:class:`RequestContext` (ASGI middleware) takes the client's ``X-Request-ID`` when it is sane (1 to
128 letters, digits and ``-_.:``), else makes one, echoes it in the response, keeps it in
:data:`REQUEST_ID` while the request runs (so every log line written meanwhile can carry it:
:class:`RequestIdFilter`), writes one access line per request and counts the request in the
server's :class:`~practical_dl.serving.metrics.ServingMetrics`.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
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


class RequestContext:
    """ASGI middleware: the request id, one access log line and the request's metrics."""

    def __init__(self, app, metrics: ServingMetrics | None = None, routes: Collection[str] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = frozenset(routes)  # known paths are their own label; anything else counts as "other"

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = next((v for k, v in scope.get("headers", ()) if k.lower() == b"x-request-id"), None)
        request_id = given.decode("ascii") if given is not None and SANE_ID.fullmatch(given) else uuid.uuid4().hex
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
            seconds = time.perf_counter() - start
            path = scope["path"]
            if self.metrics is not None:
                self.metrics.observe_request(path if path in self.routes else "other", status, seconds)
            client = scope.get("client") or ("-", 0)
            access_logger.info('%s "%s %s" %d %.1f ms', client[0], scope["method"], path, status, 1000 * seconds)
            REQUEST_ID.reset(token)

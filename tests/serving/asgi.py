"""A minimal in-process HTTP client for ASGI apps (Starlette's TestClient needs httpx2, which this project does not install)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    """One response: status code, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes
    unread: int = 0  # pieces of a chunked body the app never asked for

    def json(self) -> Any:
        return json.loads(self.body)


async def call(app, method: str, path: str, body: bytes | list[bytes] = b"", headers: dict[str, str] | None = None) -> Answer:
    """Send one request to ``app`` and collect its answer; a list ``body`` is sent chunked, piece by piece."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    chunks = body if isinstance(body, list) else [body]
    if not isinstance(body, list) and method not in ("GET", "HEAD"):
        headers.setdefault("content-length", str(len(body)))
    elif isinstance(body, list):
        headers.setdefault("transfer-encoding", "chunked")
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 12345),
        "server": ("testserver", 80),
    }
    pending = list(chunks)
    start: dict[str, Any] = {}
    parts: list[bytes] = []

    async def receive():
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app(scope, receive, send)
    names = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    return Answer(start["status"], names, b"".join(parts), len(pending))

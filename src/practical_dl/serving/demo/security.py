"""The page's defences: security headers on every response, an optional bearer token for the API,
and the rule that a server reachable from other machines needs a token or an explicit ``--open``.

* :data:`SECURITY_HEADERS`: a Content-Security-Policy that lets the page load only its own files
  (``/static/page.css``, ``/static/page.js``; no inline script or style) and no one frame it, plus
  ``nosniff``, ``DENY`` and ``no-referrer``;
* :class:`BearerToken`: with a token, requests to the API (``/api/...``) and to ``/metrics`` need
  ``Authorization: Bearer <token>``; the page, its static files, ``/healthz``, ``/readyz`` and
  ``/openapi.json`` stay public (the page reads the token from its address, ``#token=...``);
* :func:`exposure_problem`: why a ``--host`` may not be used as given, or None.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from practical_dl.serving.demo.limits import send_problem

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
#: Paths (prefixes) that need the token when the server has one.
PROTECTED_PREFIXES = ("/api/", "/metrics")


class SecurityHeaders:
    """ASGI middleware: :data:`SECURITY_HEADERS` on every HTTP response."""

    def __init__(self, app) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *self.headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BearerToken:
    """ASGI middleware: requests to :data:`PROTECTED_PREFIXES` need ``Authorization: Bearer <token>``; others get 401."""

    def __init__(self, app, token: str) -> None:
        if not token:
            raise ValueError("the token must not be empty")
        self.app = app
        self.expected = f"Bearer {token}".encode()

    def authorised(self, scope: dict[str, Any]) -> bool:
        """Whether the request carries the token (or needs none)."""
        if not scope["path"].startswith(PROTECTED_PREFIXES):
            return True
        given = next((v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"), b"")
        return hmac.compare_digest(given, self.expected)

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        if scope["type"] != "http" or self.authorised(scope):
            return await self.app(scope, receive, send)
        await send_problem(
            send,
            401,
            "unauthorized",
            "this server needs 'Authorization: Bearer <token>' (the token it was started with; open the page as /#token=<token>)",
            {"WWW-Authenticate": "Bearer"},
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any address


def exposure_problem(host: str, token: str | None, open_to_all: bool) -> str | None:
    """The one-line reason not to listen on ``host`` as asked, or None: a non-loopback address needs a token or ``--open``."""
    if is_loopback(host) or token or open_to_all:
        return None
    return (
        f"practical-dl-demo: --host {host} makes the page reachable from other machines; "
        "pass --token TOKEN (clients then send 'Authorization: Bearer TOKEN') or --open to serve anyone"
    )

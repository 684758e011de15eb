"""Prometheus metrics of a model server (``prometheus-client``), one registry per server.

:class:`ServingMetrics` counts requests by route and status code, times them (a histogram per
route), counts refusals by reason (413 ``too_large``, 503 ``overloaded``, 504 ``deadline_exceeded``)
and records each forward pass's batch size and time. ``render()`` gives the text format that
``GET /metrics`` serves (``CONTENT_TYPE``).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Status codes that mean "refused before the work", and the reason label they count under.
REFUSALS = {413: "too_large", 503: "overloaded", 504: "deadline_exceeded"}
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServingMetrics:
    """The counters and histograms of one server, in a registry of their own (names start with ``prefix``)."""

    def __init__(self, prefix: str = "practical_dl_demo") -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            f"{prefix}_requests", "HTTP requests answered, by route and status code", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            f"{prefix}_request_duration_seconds",
            "time from the request's headers to the end of its answer, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.refused = Counter(f"{prefix}_refused", "requests refused before the work, by reason", ["reason"], registry=self.registry)
        self.batch_size = Histogram(
            f"{prefix}_batch_size", "images per forward pass of the classifiers", buckets=BATCH_BUCKETS, registry=self.registry
        )
        self.batch_seconds = Histogram(
            f"{prefix}_batch_duration_seconds",
            "time of one forward pass of every classifier",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if status in REFUSALS:
            self.refused.labels(REFUSALS[status]).inc()

    def observe_batch(self, size: int, seconds: float) -> None:
        """Record one forward pass of ``size`` images."""
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def render(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)

"""Prometheus metrics of a model server (``prometheus-client``), one registry per server.

:class:`ServingMetrics` counts requests by route and status code, times them (a histogram per
route), counts refusals by reason (413 ``too_large``, 503 ``overloaded``, 504 ``deadline_exceeded``)
records each batch's size and time, and shows the admission control's limit and the predictions in
flight (:meth:`ServingMetrics.watch_admission`). ``render()`` gives the text format that ``GET /metrics``
serves (``CONTENT_TYPE``). Counting a request costs a few dictionary lookups: the labelled series are
looked up once per route and status, not per request (a refused request is counted too).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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
            "time of one batch: preparing its drawings, the forward pass of every classifier and the answers",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.prefix = prefix
        self._series: dict[tuple[str, int], tuple] = {}

    def watch_admission(self, admission) -> None:
        """Gauges of an :class:`~practical_dl.serving.demo.limits.Admission`, read when the metrics are scraped."""
        limit = Gauge(f"{self.prefix}_admission_limit", "most predictions in flight the server admits now", registry=self.registry)
        limit.set_function(admission.limit)
        in_flight = Gauge(f"{self.prefix}_in_flight", "predictions admitted and not yet answered", registry=self.registry)
        in_flight.set_function(lambda: admission.in_flight)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        series = self._series.get((route, status))
        if series is None:
            refused = self.refused.labels(REFUSALS[status]) if status in REFUSALS else None
            series = self._series[(route, status)] = (self.requests.labels(route, str(status)), self.latency.labels(route), refused)
        requests, latency, refused = series
        requests.inc()
        latency.observe(seconds)
        if refused is not None:
            refused.inc()

    def observe_batch(self, size: int, seconds: float) -> None:
        """Record one forward pass of ``size`` images."""
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def render(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)

"""Prometheus metrics for one app, served as text at GET /metrics.

Each app gets its own registry, so several apps in one test process do not
share counters. With several worker processes (``--workers``) the supervisor
sets PROMETHEUS_MULTIPROC_DIR: each worker then writes its values to files
there, and /metrics adds up all workers' (prometheus_client's multiprocess mode).
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from quart import Blueprint, Response, current_app

disable_created_metrics()  # no *_created timestamps: they only add noise here

# Guess latency buckets in seconds: the interesting range is 0.5 ms … 100 ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """The counters the server keeps; names follow Prometheus conventions."""

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge(
            "quickdraw_open_connections", "Open WebSocket connections", registry=r, multiprocess_mode="livesum"
        )  # workers: the sum over those running
        self.connections_total = Counter("quickdraw_connections", "WebSocket connections accepted", registry=r)
        self.refused = Counter(
            "quickdraw_connections_refused", "WebSocket connections refused (server full)", registry=r
        )
        self.closes = Counter(
            "quickdraw_closes", "WebSocket connections closed by the server, by close code", ["code"], registry=r
        )
        self.guesses = Counter("quickdraw_guesses", "Guesses sent", ["trigger"], registry=r)
        self.latency = Histogram(
            "quickdraw_guess_latency_seconds",
            "Time from the message that completed a stroke to its guess being sent",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.drawings = Counter("quickdraw_drawings", "Drawings finished, by outcome", ["outcome"], registry=r)
        self.saves = Counter("quickdraw_saves", "Drawing saves, by result", ["result"], registry=r)
        self.errors = Counter("quickdraw_errors", "Error messages sent, by code", ["code"], registry=r)
        self.spooled = Gauge(
            "quickdraw_spooled_drawings",
            "Drawings kept on this host until the database takes them (STORE_URL)",
            registry=r,
            multiprocess_mode="livesum",
        )

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
async def metrics() -> Response:
    return Response(current_app.extensions["metrics"].render(), content_type=CONTENT_TYPE_LATEST)

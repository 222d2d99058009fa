"""`/metrics` in the Prometheus text format.

It takes the API token like every other path, or the scrape token (`Monitors.scrape_token`, kept
in the state dir across restarts), which opens this path only: `metrics_credentials` is what the
app hands the guard for that.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parallelai.monitor.metrics import CONTENT_TYPE, RunMetrics
from parallelai.monitor.monitors import Monitors

METRICS_PATH = "/metrics"


def metrics_routes(metrics: RunMetrics) -> list[Route]:
    async def metrics_text(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return [Route(METRICS_PATH, metrics_text, methods=["GET"])]


def metrics_credentials(monitors: Monitors) -> dict[str, str]:
    """Path → the one extra bearer token that opens it: the scrape token, for `/metrics`."""
    return {METRICS_PATH: monitors.scrape_token}

"""`/metrics` in the Prometheus text format (token required, like every other path)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parallelai.monitor.metrics import CONTENT_TYPE, RunMetrics

METRICS_PATH = "/metrics"


def metrics_routes(metrics: RunMetrics) -> list[Route]:
    async def metrics_text(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return [Route(METRICS_PATH, metrics_text, methods=["GET"])]

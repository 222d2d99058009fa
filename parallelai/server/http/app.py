"""`create_app(service, token, monitors)`: the daemon's Starlette application over one service.

There is no module-level app: each call builds a fresh one, so tests and embedders can run
several side by side, each over its own service and token. The app runs nothing of its own: the
metrics and notifications belong to whoever runs the service (`Monitors.start`), and the app
only exposes them (`/metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from parallelai.monitor.monitors import Monitors
from parallelai.orchestration.service import OrchestrationService
from parallelai.server.http.endpoint import MAX_BODY_BYTES, Endpoint, json_response
from parallelai.server.http.errors import exception_handlers
from parallelai.server.http.guard import Guard
from parallelai.server.http.openapi import openapi_document
from parallelai.server.http.routes_catalog import catalog_endpoints
from parallelai.server.http.routes_changes import change_endpoints
from parallelai.server.http.routes_dashboard import LoginCodes, dashboard_endpoints, dashboard_routes
from parallelai.server.http.routes_events import StreamStats, event_endpoints
from parallelai.server.http.routes_findings import findings_endpoints
from parallelai.server.http.routes_metrics import metrics_credentials, metrics_routes
from parallelai.server.http.routes_runs import run_endpoints
from parallelai.server.http.routes_tasks import task_endpoints
from parallelai.templates.catalog import LibraryCatalog, TemplateCatalog

OPENAPI_PATH = "/v1/openapi.json"


@dataclass(frozen=True, slots=True)
class AppSettings:
    loopback_only: bool = True  # False only with `serve --allow-remote`
    ping_s: float = 15.0  # SSE keep-alive comment interval
    send_timeout_s: float = 30.0  # an SSE client that reads nothing for this long is dropped
    max_body_bytes: int = MAX_BODY_BYTES
    allowed_origins: tuple[str, ...] = ()  # other origins allowed in (CORS), e.g. VS Code for the web


def api_endpoints(
    service: OrchestrationService,
    settings: AppSettings,
    codes: LoginCodes,
    streams: StreamStats,
    catalog: TemplateCatalog,
) -> list[Endpoint]:
    """Every documented /v1 endpoint, in the order the document lists them."""
    return [
        *run_endpoints(service, catalog),
        *task_endpoints(service),
        *change_endpoints(service),
        *findings_endpoints(service),
        *event_endpoints(service, streams, settings.ping_s, settings.send_timeout_s),
        *catalog_endpoints(service, catalog),
        *dashboard_endpoints(codes),
    ]


def create_app(
    service: OrchestrationService,
    token: str,
    monitors: Monitors,
    settings: AppSettings | None = None,
    catalog: TemplateCatalog | None = None,
) -> Starlette:
    """The app over `service`, exposing its `monitors` (started, and stopped, by the caller).

    `catalog` defaults to the template library, found from the daemon's directory.
    """
    settings = settings or AppSettings()
    catalog = catalog or LibraryCatalog()
    codes = LoginCodes()
    streams = StreamStats()
    endpoints = api_endpoints(service, settings, codes, streams, catalog)

    async def openapi(request: Request) -> Response:
        return json_response(document)

    endpoints.append(Endpoint("GET", OPENAPI_PATH, openapi, "This document", response=dict[str, Any]))
    document = openapi_document(endpoints, "parallelai daemon", "1")
    routes: list[BaseRoute] = [endpoint.route() for endpoint in endpoints]
    routes.extend(dashboard_routes(codes, token))
    routes.extend(metrics_routes(monitors.metrics))

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                Guard,
                token=token,
                loopback_only=settings.loopback_only,
                max_body=settings.max_body_bytes,
                allowed_origins=settings.allowed_origins,
                path_tokens=metrics_credentials(monitors),
            )
        ],
        exception_handlers=exception_handlers(),
    )
    app.state.endpoints = endpoints
    app.state.service = service
    app.state.streams = streams
    app.state.metrics = monitors.metrics
    app.state.notifier = monitors.notifier
    app.state.catalog = catalog
    return app

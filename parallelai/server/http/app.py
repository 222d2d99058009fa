"""`create_app(service, token)`: the daemon's Starlette application over one orchestration service.

There is no module-level app: each call builds a fresh one, so tests and embedders can run
several side by side, each over its own service and token.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from parallelai.monitor.metrics import RunMetrics
from parallelai.monitor.notify import Notifier
from parallelai.monitor.notify_config import NotifyConfig
from parallelai.orchestration.service import OrchestrationService
from parallelai.server.http.endpoint import MAX_BODY_BYTES, Endpoint, json_response
from parallelai.server.http.errors import exception_handlers
from parallelai.server.http.guard import Guard
from parallelai.server.http.openapi import openapi_document
from parallelai.server.http.routes_catalog import catalog_endpoints
from parallelai.server.http.routes_dashboard import LoginCodes, dashboard_endpoints, dashboard_routes
from parallelai.server.http.routes_events import StreamStats, event_endpoints
from parallelai.server.http.routes_findings import findings_endpoints
from parallelai.server.http.routes_metrics import metrics_routes
from parallelai.server.http.routes_runs import run_endpoints
from parallelai.server.http.routes_tasks import task_endpoints
from parallelai.templates.catalog import LibraryCatalog, TemplateCatalog

OPENAPI_PATH = "/v1/openapi.json"
log = logging.getLogger("parallelai.server")


@dataclass(frozen=True, slots=True)
class AppSettings:
    loopback_only: bool = True  # False only with `serve --allow-remote`
    ping_s: float = 15.0  # SSE keep-alive comment interval
    send_timeout_s: float = 30.0  # an SSE client that reads nothing for this long is dropped
    max_body_bytes: int = MAX_BODY_BYTES
    notify: NotifyConfig = field(default_factory=NotifyConfig)  # the config file's [notify] table
    public_url: str | None = None  # the daemon's own URL, for links in notifications
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
        *findings_endpoints(service),
        *event_endpoints(service, streams, settings.ping_s, settings.send_timeout_s),
        *catalog_endpoints(service, catalog),
        *dashboard_endpoints(codes),
    ]


def create_app(
    service: OrchestrationService,
    token: str,
    settings: AppSettings | None = None,
    catalog: TemplateCatalog | None = None,
) -> Starlette:
    """The app; `catalog` defaults to the template library, found from the daemon's directory."""
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
    metrics = RunMetrics()
    routes.extend(metrics_routes(metrics))
    notifier = Notifier(settings.notify, settings.public_url) if settings.notify.enabled else None
    # Metrics and notifications cover what happens from now on; the lifespan runs their bus
    # subscriptions, each in its own task so neither can hold up a run or the other.
    after = service.bus.last_seq

    async def follow(name: str, follower: Callable[[OrchestrationService, int], Awaitable[None]]) -> None:
        try:
            await follower(service, after)
        except Exception:  # never worth the daemon: log the bug, keep serving
            log.exception("%s stopped following the event bus", name)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            group.start_soon(follow, "metrics", metrics.follow)
            if notifier is not None:
                group.start_soon(follow, "notifications", notifier.follow)
            yield
            group.cancel_scope.cancel()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(
                Guard,
                token=token,
                loopback_only=settings.loopback_only,
                max_body=settings.max_body_bytes,
                allowed_origins=settings.allowed_origins,
            )
        ],
        exception_handlers=exception_handlers(),
    )
    app.state.endpoints = endpoints
    app.state.service = service
    app.state.streams = streams
    app.state.metrics = metrics
    app.state.notifier = notifier
    app.state.catalog = catalog
    return app

"""What the daemon offers: engines with their status, templates, and its own health."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

import anyio
from starlette.requests import Request
from starlette.responses import Response

from parallelai.orchestration.service import OrchestrationService
from parallelai.ratelimits import GateState, gate_states
from parallelai.server.http.endpoint import Endpoint, json_response
from parallelai.templates.catalog import TemplateCatalog
from parallelai.wire import EngineOut, Health, RateGateOut, TemplateOut


def catalog_endpoints(service: OrchestrationService, catalog: TemplateCatalog) -> list[Endpoint]:
    async def list_engines(request: Request) -> Response:
        statuses = await service.engine_statuses()
        return json_response([EngineOut(**dict(status)) for status in statuses])

    async def list_rate_gates(request: Request) -> Response:
        # The gates live in this event loop, the one the daemon's engines run in.
        return json_response([_gate_out(state) for state in gate_states()])

    async def list_templates(request: Request) -> Response:
        details = await anyio.to_thread.run_sync(catalog.describe_all)  # it reads YAML files
        return json_response([TemplateOut.of(detail) for detail in details])

    async def health(request: Request) -> Response:
        return json_response(Health(pid=os.getpid(), version=_version(), last_seq=service.bus.last_seq))

    return [
        Endpoint(
            "GET",
            "/v1/engines",
            list_engines,
            "Engines and whether they can run here",
            response=list[EngineOut],
        ),
        Endpoint(
            "GET",
            "/v1/rate-gates",
            list_rate_gates,
            "Each provider account's rate gate: limits learnt, remaining, paused until",
            response=list[RateGateOut],
        ),
        Endpoint(
            "GET", "/v1/templates", list_templates, "Installed run templates", response=list[TemplateOut]
        ),
        Endpoint("GET", "/v1/health", health, "The daemon is up and the token is right", response=Health),
    ]


def _version() -> str:
    try:
        return version("parallelai")
    except PackageNotFoundError:
        return "0+unknown"


def _gate_out(state: GateState) -> RateGateOut:
    account = state.account
    return RateGateOut(
        provider=account.provider,
        endpoint=account.endpoint,
        key_id=account.key_id,
        learnt=state.learnt,
        limits=dict(state.limits),
        remaining=dict(state.remaining),
        available=dict(state.available),
        paused_until=state.paused_until,
        waiting=state.waiting,
        admitted=state.admitted,
        refused=state.refused,
    )

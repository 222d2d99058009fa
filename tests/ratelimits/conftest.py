"""A scripted model server that also notes when each model request arrived (by its own clock)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from parallelai.orchestration.service import OrchestrationService
from tests.support.model_server import Dialect, ScriptedModelServer, default_dialects

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class Arrivals:
    """Model requests as the server saw them: monotonic arrival time and body, in arrival order."""

    seen: list[tuple[float, str]] = field(default_factory=list)

    def times(self, containing: str = "") -> list[float]:
        return [at for at, body in self.seen if containing in body]


class _Timed:
    """A dialect whose POST routes note the arrival time of each request before answering it."""

    def __init__(self, inner: Dialect, arrivals: Arrivals) -> None:
        self.name, self._inner, self._arrivals = inner.name, inner, arrivals

    def routes(self, server: ScriptedModelServer) -> Sequence[BaseRoute]:
        routes: list[BaseRoute] = []
        for route in self._inner.routes(server):
            if isinstance(route, Route) and route.methods == {"POST"}:
                route = Route(route.path, self._timed(route.endpoint), methods=["POST"])
            routes.append(route)
        return routes

    def _timed(self, endpoint: Endpoint) -> Endpoint:
        async def timed(request: Request) -> Response:
            at = time.monotonic()
            body = (await request.body()).decode(errors="replace")
            self._arrivals.seen.append((at, body))
            return await endpoint(request)

        return timed


@dataclass
class TimedServer:
    server: ScriptedModelServer
    arrivals: Arrivals


@pytest.fixture
def timed_server() -> Iterator[TimedServer]:
    arrivals = Arrivals()
    with ScriptedModelServer([_Timed(dialect, arrivals) for dialect in default_dialects()]) as server:
        yield TimedServer(server, arrivals)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[OrchestrationService]:
    async with OrchestrationService.open(tmp_path / "store.db") as opened:
        yield opened

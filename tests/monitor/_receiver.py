"""A real webhook receiver for tests: Starlette on a loopback socket bound to port 0.

It records every JSON body posted to it, per path, and answers with the statuses it is told to
(then 200), so a test can make the first attempts fail and see the retries arrive.
"""

from __future__ import annotations

import contextlib
import functools
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from parallelai.server.daemon import bind_socket, socket_url


@dataclass
class Receiver:
    url: str
    failures: dict[str, deque[int]] = field(default_factory=lambda: defaultdict(deque))
    received: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    headers: dict[str, list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))
    _arrived: anyio.Event = field(default_factory=anyio.Event)

    def fail_next(self, path: str, *statuses: int) -> None:
        self.failures[path].extend(statuses)

    async def wait_for(self, path: str, count: int = 1) -> list[dict[str, Any]]:
        while len(self.received[path]) < count:
            await self._arrived.wait()
        return self.received[path]

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        self.attempts[path] += 1
        if self.failures[path]:
            return JSONResponse({"error": "try later"}, status_code=self.failures[path].popleft())
        self.received[path].append(await request.json())
        self.headers[path].append(dict(request.headers))
        self._arrived.set()
        self._arrived = anyio.Event()
        return Response("ok")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # leave the test runner's signal handlers alone


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[Receiver]:
    with bind_socket("127.0.0.1", 0) as sock:
        receiver = Receiver(socket_url(sock))
        app = Starlette(routes=[Route("/{path:path}", receiver._handle, methods=["POST"])])
        server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        async with anyio.create_task_group() as group:
            group.start_soon(functools.partial(server.serve, sockets=[sock]))
            yield receiver
            server.should_exit = True

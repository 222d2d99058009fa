"""A real daemon app on a loopback socket bound to port 0, plus helpers the server tests share."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import uvicorn
from pydantic import TypeAdapter
from starlette.applications import Starlette

from parallelai.client.sse import sse_messages
from parallelai.events import Event, event_from_json
from parallelai.monitor.monitors import Monitors
from parallelai.monitor.notify_config import NotifyConfig
from parallelai.orchestration.service import OrchestrationService
from parallelai.server.auth import new_token
from parallelai.server.daemon import DaemonServer, bind_socket, socket_url
from parallelai.server.http.app import AppSettings, create_app
from parallelai.server.http.routes_events import StreamStats

DEADLINE_S = 20.0
T = TypeVar("T")


@dataclass
class Harness:
    url: str
    token: str
    service: OrchestrationService
    http: httpx.AsyncClient  # authenticated, Host = 127.0.0.1:PORT
    raw: httpx.AsyncClient  # no token, for the security tests
    server: DaemonServer
    streams: StreamStats
    app: Starlette
    monitors: Monitors


@asynccontextmanager
async def running_app(
    store_path: Path, settings: AppSettings | None = None, notify: NotifyConfig | None = None
) -> AsyncIterator[Harness]:
    """The daemon's parts as `serve()` puts them together: a service, its monitors (notifying as
    `notify` says), and the app over both."""
    settings = settings or AppSettings(ping_s=0.2)
    with bind_socket("127.0.0.1", 0) as sock:
        url = socket_url(sock)
        async with (
            OrchestrationService.open(store_path) as service,
            Monitors.start(service, notify, public_url=url) as monitors,
        ):
            token = new_token()
            app = create_app(service, token, monitors, settings)
            config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=2)
            server = DaemonServer(config, service)
            async with anyio.create_task_group() as group:
                # The socket already listens: requests made before uvicorn accepts wait in the backlog.
                group.start_soon(functools.partial(server.serve, sockets=[sock]))
                async with (
                    httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http,
                    httpx.AsyncClient(base_url=url) as raw,
                ):
                    yield Harness(url, token, service, http, raw, server, app.state.streams, app, monitors)
                server.stop()


def parse(response: httpx.Response, answer: type[T]) -> T:
    """The body as `answer` (the response model the OpenAPI document declares)."""
    adapter: TypeAdapter[T] = TypeAdapter(answer)
    return adapter.validate_json(response.content)


def echo_run(count: int, latency: float = 0.0, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompts": [f"prompt {index}" for index in range(count)],
        "engines": {"echo": {"latency": latency}},
        "parallel": 8,
        "backoff_base_s": 0.001,
    }
    return body | extra


# A run with one task waiting ten minutes to retry (its provider asked for that) and one running.
RETRYING_AND_BUSY: dict[str, Any] = {
    "work": {
        "strategy": "parallel",
        "tasks": [
            {
                "id": "flaky",
                "prompt": "x",
                "options": {"retries": 1, "engine_options": {"fail_attempts": 1, "retry_after": 600}},
            },
            {"id": "busy", "prompt": "y", "options": {"engine_options": {"hang": True}}},
        ],
    }
}


# A DAG whose `bad` fails its first attempt for good (an execution error), so `after` is skipped;
# on a retry, `bad` succeeds.
_BROKEN = {"retries": 0, "engine_options": {"fail_attempts": 1, "failure_kind": "execution"}}
FAILED_DAG: dict[str, Any] = {
    "engine": "echo",
    "work": {
        "strategy": "dag",
        "tasks": [
            {"id": "ok", "prompt": "fine"},
            {"id": "bad", "prompt": "broken", "options": _BROKEN},
            {"id": "after", "prompt": "then", "depends_on": ["bad"]},
        ],
    },
}


async def collect_events(
    http: httpx.AsyncClient,
    path: str,
    until: Callable[[Event], bool],
    headers: dict[str, str] | None = None,
) -> list[Event]:
    """Read an SSE stream until `until(event)` holds; returns every event read, in order."""
    events: list[Event] = []
    async with http.stream("GET", path, headers=headers, timeout=None) as response:
        assert response.status_code == 200, response.status_code
        async for message in sse_messages(response):
            event = event_from_json(message.data)
            assert message.id == str(event.seq)
            assert message.event == event.type
            events.append(event)
            if until(event):
                return events
    raise AssertionError("the stream ended before the expected event")

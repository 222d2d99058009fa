"""A real daemon app with the MCP endpoint mounted, on a loopback socket bound to port 0."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import uvicorn

from parallelai.monitor.monitors import Monitors
from parallelai.orchestration.service import OrchestrationService
from parallelai.server.auth import new_token
from parallelai.server.daemon import DaemonServer, bind_socket, socket_url
from parallelai.server.http.app import create_app
from parallelai.server.mcp.http import mount_mcp


@dataclass
class Daemon:
    url: str
    token: str
    service: OrchestrationService


@asynccontextmanager
async def daemon_with_mcp(store: Path) -> AsyncIterator[Daemon]:
    with bind_socket("127.0.0.1", 0) as sock:
        async with OrchestrationService.open(store) as service, Monitors.start(service) as monitors:
            token = new_token()
            app = create_app(service, token, monitors)
            async with mount_mcp(app, service):
                config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=2)
                server = DaemonServer(config, service)
                async with anyio.create_task_group() as group:
                    # The socket already listens: requests made before uvicorn accepts wait in the backlog.
                    group.start_soon(functools.partial(server.serve, sockets=[sock]))
                    yield Daemon(socket_url(sock), token, service)
                    server.stop()

"""Where `parallelai mcp` sends what it does not answer itself: the daemon's `/mcp`, or a server in this process.

Both are a `Link`: JSON-RPC messages as plain dicts in, plain dicts out, so the stdio front
(`front.py`) never needs the MCP SDK, which is the slow part of starting. This module imports the
SDK; the front loads it in a worker thread once the client has had its first answers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx2
import mcp_types
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from mcp.client.streamable_http import streamable_http_client
from mcp.server.lowlevel import Server
from mcp.shared.message import SessionMessage

from parallelai.client.discovery import DaemonInfo, read_discovery
from parallelai.client.errors import DaemonError
from parallelai.client.launcher import DEFAULT_HOST, start_detached
from parallelai.errors import ParallelAIError
from parallelai.orchestration.service import OrchestrationService
from parallelai.server.mcp.front import JsonObject, LinkGone, LinkUnavailable
from parallelai.server.mcp.http import MCP_PATH
from parallelai.server.mcp.server import build_mcp_server

log = logging.getLogger("parallelai.mcp")
CONNECT_TIMEOUT_S = 30.0


class _Incoming(Protocol):
    """What the link needs of the SDK's read streams (their protocol classes are private)."""

    async def receive(self) -> SessionMessage | Exception: ...


class _Outgoing(Protocol):
    async def send(self, item: SessionMessage, /) -> None: ...


class StreamLink:
    """A `Link` over a pair of the SDK's message streams."""

    def __init__(
        self,
        incoming: _Incoming,
        outgoing: _Outgoing,
        side: str,
        still_there: Callable[[], bool] = lambda: True,
    ) -> None:
        self._incoming = incoming
        self._outgoing = outgoing
        self._side = side
        self._still_there = still_there

    async def send(self, message: JsonObject) -> None:
        if not self._still_there():
            raise LinkGone(message)
        parsed = mcp_types.jsonrpc_message_adapter.validate_python(message, by_name=False)
        await self._outgoing.send(SessionMessage(parsed))

    async def receive(self) -> JsonObject | None:
        while True:
            try:
                item = await self._incoming.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return None
            if not isinstance(item, Exception):
                return item.message.model_dump(mode="json", by_alias=True, exclude_unset=True)
            # A line that is not JSON-RPC, or a failed request: the SDK already answered or logged it.
            log.warning("dropped an unreadable message from the %s: %s", self._side, item)


@asynccontextmanager
async def daemon_link(store_path: Path | None) -> AsyncIterator[StreamLink]:
    """The running daemon's `/mcp` (starting a detached daemon when none runs): runs outlive the session."""
    try:
        info = await start_detached(DEFAULT_HOST, 0, store_path)
    except (DaemonError, OSError) as error:
        raise LinkUnavailable(
            f"parallelai could not reach or start its daemon: {error}. Run `parallelai daemon start` "
            "in a terminal to see why, or configure the server as `parallelai mcp --embedded`."
        ) from error
    headers = {"Authorization": f"Bearer {info.token}"}
    # No read timeout: a `wait=true` tool call streams nothing but progress for as long as a run lasts.
    timeout = httpx2.Timeout(CONNECT_TIMEOUT_S, read=None)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
        streamable_http_client(info.url + MCP_PATH, http_client=http) as (incoming, outgoing),
    ):
        yield StreamLink(incoming, outgoing, "daemon", partial(_still_published, info))


def _still_published(info: DaemonInfo) -> bool:
    """Whether `info`'s daemon still runs: the state dir's discovery file names it (a cheap read).

    Checked before each message, so a message meant for a daemon that was stopped or restarted goes
    to the one that runs now instead of failing (the language server's link does the same)."""
    current = read_discovery()
    return current is not None and (current.pid, current.url) == (info.pid, info.url)


@asynccontextmanager
async def embedded_link(store_path: Path | None) -> AsyncIterator[StreamLink]:
    """A server in this process on its own service: its runs stop with it (`parallelai resume` continues them)."""
    async with AsyncExitStack() as stack:
        try:
            service = await stack.enter_async_context(OrchestrationService.open(store_path))
        except (OSError, ParallelAIError) as error:
            raise LinkUnavailable(f"parallelai could not open its store: {error}") from error
        # The SDK serves its own stdio this way: the low-level server over a pair of message streams.
        server = build_mcp_server(service)._lowlevel_server
        to_server, server_inbox = anyio.create_memory_object_stream[SessionMessage | Exception](math.inf)
        server_outbox, from_server = anyio.create_memory_object_stream[SessionMessage](math.inf)
        group = await stack.enter_async_context(anyio.create_task_group())
        group.start_soon(_serve, server, server_inbox, server_outbox)
        yield StreamLink(from_server, to_server, "server")
        group.cancel_scope.cancel()


async def _serve(
    server: Server[Any],
    inbox: ObjectReceiveStream[SessionMessage | Exception],
    outbox: ObjectSendStream[SessionMessage],
) -> None:
    async with inbox, outbox:
        await server.run(inbox, outbox, server.create_initialization_options())

"""Relaying MCP between this process's stdio and the daemon's `/mcp` endpoint.

`parallelai mcp --daemon` runs this: the assistant talks stdio to a thin process, the runs
live in the daemon, so they outlive the assistant's session. Messages pass through unchanged;
the SDK's streamable HTTP transport handles sessions and streaming on the daemon side.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

import anyio
import httpx2
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from parallelai.server.discovery import DaemonInfo
from parallelai.server.mcp.http import MCP_PATH

log = logging.getLogger("parallelai.mcp.bridge")
CONNECT_TIMEOUT_S = 30.0
T_contra = TypeVar("T_contra", contravariant=True)


class _Sink(AbstractAsyncContextManager["_Sink[T_contra]"], Protocol[T_contra]):
    """The one thing the relay needs of a write stream (the SDK's stream protocols are private)."""

    async def send(self, item: T_contra, /) -> None: ...


async def bridge_stdio_to_daemon(info: DaemonInfo) -> None:
    """Relay until stdin closes (the client went away) or the daemon ends the session."""
    headers = {"Authorization": f"Bearer {info.token}"}
    # No read timeout: a `wait=true` tool call streams nothing but progress for as long as a run lasts.
    timeout = httpx2.Timeout(CONNECT_TIMEOUT_S, read=None)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
        streamable_http_client(info.url + MCP_PATH, http_client=http) as (remote_read, remote_write),
        stdio_server() as (local_read, local_write),
        anyio.create_task_group() as group,
    ):
        group.start_soon(_relay, remote_read, local_write, "daemon")
        await _relay(local_read, remote_write, "client")
        group.cancel_scope.cancel()


async def _relay(
    source: AsyncIterator[SessionMessage | Exception],
    sink: _Sink[SessionMessage],
    side: str,
) -> None:
    async with sink:
        async for message in source:
            if isinstance(message, Exception):
                # A line that is not JSON-RPC, or a failed request: the SDK already answered or logged it.
                log.warning("dropped an unreadable message from the %s: %s", side, message)
                continue
            await sink.send(message)

"""`DaemonLink`: the language server's one way to the daemon, connected (and the daemon started) on demand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import read_discovery
from parallelai.client.errors import DaemonError

Connect = Callable[[], Awaitable[DaemonClient]]


async def connect_or_start() -> DaemonClient:
    """The default: the running daemon, or a new detached one (it outlives the editor)."""
    return await DaemonClient.connect(start=True)


class DaemonLink:
    """Hands out a client of the daemon that runs now.

    The discovery file is checked on every use: when the daemon was stopped or restarted (a new
    pid, port and token), the next request reconnects — starting a daemon if none runs — instead
    of failing until the editor is restarted.
    """

    def __init__(self, connect: Connect = connect_or_start) -> None:
        self._connect = connect
        self._client: DaemonClient | None = None
        self._lock = anyio.Lock()

    async def client(self) -> DaemonClient:
        async with self._lock:
            current = self._client
            if current is not None and read_discovery() == current.info:
                return current
            self._client = None
            if current is not None:
                await current.aclose()
            try:
                self._client = await self._connect()
            except OSError as error:  # e.g. a state dir it cannot write: the daemon cannot start
                raise DaemonError(f"cannot start the daemon: {error}") from error
            return self._client

    async def aclose(self) -> None:
        async with self._lock:
            if self._client is not None:
                await self._client.aclose()
                self._client = None

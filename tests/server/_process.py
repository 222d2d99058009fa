"""Running the real daemon as a child process (`python -m parallelai.server.daemon`) in a test."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

from parallelai.client.discovery import DaemonInfo, read_discovery

READY_MARK = "listening on "


@dataclass
class DaemonProcess:
    process: Process
    info: DaemonInfo
    log: list[str] = field(default_factory=list)


@asynccontextmanager
async def daemon_process(store: Path, *extra: str) -> AsyncIterator[DaemonProcess]:
    """Start the daemon on port 0 and yield once it listens; kill it on the way out if still alive."""
    command = [sys.executable, "-m", "parallelai.server.daemon", "--port", "0", "--store", str(store), *extra]
    async with await anyio.open_process(command) as process, anyio.create_task_group() as group:
        assert process.stderr is not None
        log: list[str] = []
        ready = anyio.Event()

        async def drain() -> None:
            # Always read its log, so a chatty daemon never blocks on a full pipe.
            assert process.stderr is not None
            buffer = ""
            async for text in TextReceiveStream(process.stderr):
                buffer += text
                *lines, buffer = buffer.split("\n")
                log.extend(lines)
                if any(READY_MARK in line for line in lines):
                    ready.set()
            ready.set()  # it exited: let the waiter see why

        group.start_soon(drain)
        try:
            await ready.wait()
            info = read_discovery()
            assert info is not None, "\n".join(log)
            assert info.pid == process.pid
            yield DaemonProcess(process, info, log)
        finally:
            if process.returncode is None:
                process.kill()
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                await process.wait()
            group.cancel_scope.cancel()

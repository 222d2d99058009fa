"""A real `parallelai lsp` process driven by pygls' LanguageClient over stdio, and what it sent back.

The server starts its own daemon on the test's isolated state dir; the session stops that
daemon on the way out, so no process outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import anyio
import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient

from parallelai.client.launcher import stop_daemon
from parallelai.server.lsp.converter import json_converter

SESSION_DEADLINE_S = 90.0  # covers starting the daemon, which imports most of parallelai
T = TypeVar("T")


@dataclass
class Inbox:
    """Every notification and server request the client received, in order, with a way to wait for one."""

    received: list[tuple[str, Any]] = field(default_factory=list)
    _changed: anyio.Event = field(default_factory=anyio.Event)

    def put(self, method: str, params: Any) -> None:
        self.received.append((method, params))
        self._changed.set()
        self._changed = anyio.Event()

    def of(self, method: str) -> list[Any]:
        return [params for name, params in self.received if name == method]

    async def wait_for(self, find: Callable[[Inbox], T | None]) -> T:
        """The first non-None answer of `find`, re-asked after every message (the caller sets the deadline)."""
        while True:
            found = find(self)
            if found is not None:
                return found
            await self._changed.wait()


@dataclass
class Session:
    client: LanguageClient
    inbox: Inbox
    initialized: types.InitializeResult
    log: list[str]

    async def request(self, method: str, params: Any) -> Any:
        return await self.client.protocol.send_request_async(method, params)

    async def command(self, command: str, params: Any) -> Any:
        return await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command, arguments=[params])
        )

    async def run_events_until_finished(self, run_id: str) -> list[dict[str, Any]]:
        def finished(inbox: Inbox) -> list[dict[str, Any]] | None:
            events = [event for event in inbox.of("parallelai/runEvent") if event["run_id"] == run_id]
            return events if any(event["type"] == "run.finished" for event in events) else None

        return await self.inbox.wait_for(finished)


def lsp_command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "parallelai", "lsp", "--stdio", *extra]


def _client_converter() -> cattrs.Converter:
    """The server's converter, plus a fix: lsprotocol reads any code action with a `command` as a Command."""
    converter = json_converter()

    def command_or_action(value: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(value.get("command"), str):
            return converter.structure(value, types.Command)
        return converter.structure(value, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], command_or_action)  # noqa: UP007
    return converter


def _client(inbox: Inbox) -> LanguageClient:
    client = LanguageClient("parallelai-tests", "0", converter_factory=_client_converter)

    for method in (
        "parallelai/runEvent",
        types.PROGRESS,
        types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
        types.WINDOW_SHOW_MESSAGE,
        types.WINDOW_LOG_MESSAGE,
    ):
        client.feature(method)(_recorder(inbox, method))

    def create_progress(params: types.WorkDoneProgressCreateParams) -> None:
        inbox.put(types.WINDOW_WORK_DONE_PROGRESS_CREATE, params)

    client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)(create_progress)
    return client


def _recorder(inbox: Inbox, method: str) -> Callable[[Any], None]:
    def record(params: Any) -> None:
        inbox.put(method, params)

    return record


@asynccontextmanager
async def lsp_session(workspace: Path, *extra_args: str, progress: bool = True) -> AsyncIterator[Session]:
    """An initialized session whose workspace is `workspace`; shut down, exited and cleaned up after."""
    inbox = Inbox()
    client = _client(inbox)
    log: list[str] = []
    async with anyio.create_task_group() as group:
        with anyio.fail_after(SESSION_DEADLINE_S):
            await client.start_io(*lsp_command(*extra_args), env=dict(os.environ), cwd=str(workspace))
            group.start_soon(_drain, client, log)
            capabilities = types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=progress)
            )
            result = await client.initialize_async(
                types.InitializeParams(
                    capabilities=capabilities,
                    root_uri=workspace.as_uri(),
                    workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name=workspace.name)],
                )
            )
            client.initialized(types.InitializedParams())
        try:
            yield Session(client, inbox, result, log)
        finally:
            with anyio.CancelScope(shield=True), anyio.fail_after(SESSION_DEADLINE_S):
                await _close(client, log)
                await stop_daemon()
            group.cancel_scope.cancel()


async def _close(client: LanguageClient, log: list[str]) -> None:
    clean = not client.stopped  # still running: it gets the whole shutdown, and must exit 0 after it
    if clean:
        # The server starts the daemon on `initialized`; asking for it waits until it is up, so a
        # daemon still starting is not missed by stop_daemon() and left running.
        with contextlib.suppress(JsonRpcException):
            await client.protocol.send_request_async("parallelai/daemon", {})
        await client.shutdown_async(None)
        client.exit(None)
    await client.stop()  # type: ignore[no-untyped-call]  # pygls leaves it unannotated
    if clean and client._server is not None:
        assert client._server.returncode == 0, "\n".join(log)


async def _drain(client: LanguageClient, log: list[str]) -> None:
    """Read the server's stderr as it comes, so its log never fills the pipe and blocks it."""
    process = client._server
    if process is None or process.stderr is None:
        return
    async for line in process.stderr:
        log.append(line.decode(errors="replace").rstrip())

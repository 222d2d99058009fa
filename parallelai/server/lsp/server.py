"""`build_language_server()`: the LSP surface, a thin client of the daemon, and how it serves stdio.

Lifecycle: `serve()` opens the one task group background work lives in and runs pygls' message
loop in it. `initialized` starts connecting to the daemon (starting one if none runs); requests
connect on first use if that has not finished. `shutdown` stops every run follower; `exit` (or
the client closing stdin) ends the loop, and `serve()` cancels whatever is still running and
closes the daemon connection before it returns. The daemon and its runs carry on.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO

import anyio
from lsprotocol import types
from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async
from pygls.lsp.server import LanguageServer

from parallelai import __version__
from parallelai.errors import InputError, ParallelAIError
from parallelai.server.lsp import protocol
from parallelai.server.lsp.actions import code_actions
from parallelai.server.lsp.background import Background
from parallelai.server.lsp.converter import json_converter
from parallelai.server.lsp.diagnostics import DiagnosticsBoard, FindingsReport
from parallelai.server.lsp.errors import rpc_errors
from parallelai.server.lsp.link import Connect, DaemonLink, connect_or_start
from parallelai.server.lsp.requests import Json, Requests
from parallelai.server.lsp.watch import RunFollowers

log = logging.getLogger("parallelai.lsp")

SERVER_NAME = "parallelai"
Handler = Callable[[Json], Awaitable[Json]]


class ParallelAILanguageServer(LanguageServer):
    """pygls' server, with the daemon link and the background task group of one client session."""

    def __init__(self, link: DaemonLink, all_runs: bool = False) -> None:
        super().__init__(SERVER_NAME, __version__, converter_factory=json_converter)
        self.link = link
        self.all_runs = all_runs
        self.background = Background()
        self.board = DiagnosticsBoard(self.text_document_publish_diagnostics)
        self.followers = RunFollowers(link, self.background, self._forward_event, self._run_finished)
        self.requests = Requests(self, link, self.background, self.followers, self.board, all_runs=all_runs)
        self.shut_down = False

    async def serve(self, stdin: BinaryIO, stdout: BinaryIO) -> int:
        """Serve one client until it sends `exit` or closes stdin; the exit status LSP asks for."""
        self.protocol.set_writer(StdoutWriter(stdout))
        reader = StdinAsyncReader(stdin, self.thread_pool)
        status: int | None = None
        async with anyio.create_task_group() as group:
            self.background.attach(group)
            try:
                await run_async(
                    stop_event=threading.Event(),
                    reader=reader,
                    protocol=self.protocol,
                    logger=log,
                    error_handler=self.report_server_error,
                )
            except SystemExit as exit_:  # pygls answers `exit` with sys.exit(0 after shutdown, else 1)
                status = exit_.code if isinstance(exit_.code, int) else 1
            finally:
                self.background.detach()
                group.cancel_scope.cancel()  # every follower, and a connect still under way
                with anyio.CancelScope(shield=True):
                    await self.link.aclose()
        return status if status is not None else (0 if self.shut_down else 1)

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """pygls' own entry point, routed through `serve()` so background work has its task group."""
        anyio.run(self.serve, stdin or sys.stdin.buffer, stdout or sys.stdout.buffer)

    def stop(self) -> None:
        """On `shutdown`: no more run events or progress; the runs themselves go on in the daemon.

        The daemon connection is closed by `serve()` on the way out, not here: a connect still under
        way (a daemon starting) would hold the answer to `shutdown` up.
        """
        self.shut_down = True
        self.followers.stop_all()

    def _forward_event(self, event: dict[str, Any]) -> None:
        self.protocol.notify(protocol.RUN_EVENT, event)

    async def _run_finished(self, run_id: str) -> None:
        await self.requests.publish_findings(run_id)


def build_language_server(
    connect: Connect = connect_or_start, *, all_runs: bool = False
) -> ParallelAILanguageServer:
    """A new language server whose every operation is a call on the daemon `connect` reaches.

    `connect` defaults to the running daemon, starting a detached one when none runs. With
    `all_runs`, the findings of every run that finishes are published, not only of watched ones.
    """
    server = ParallelAILanguageServer(DaemonLink(connect), all_runs)
    requests = server.requests
    methods: dict[str, Handler] = {
        protocol.DAEMON: requests.daemon,
        protocol.START_RUN: requests.start_run,
        protocol.LIST_RUNS: requests.list_runs,
        protocol.GET_RUN: requests.get_run,
        protocol.GET_TASK: requests.get_task,
        protocol.CANCEL_RUN: requests.cancel_run,
        protocol.RETRY_RUN: requests.retry_run,
        protocol.LIST_TEMPLATES: requests.list_templates,
        protocol.WATCH_RUN: requests.watch_run,
        protocol.UNWATCH_RUN: requests.unwatch_run,
    }
    for method, handler in methods.items():
        server.feature(method)(rpc_errors(handler))
    commands: dict[str, Handler] = {
        protocol.COMMAND_START_RUN: requests.start_run,
        protocol.COMMAND_LIST_RUNS: requests.list_runs,
        protocol.COMMAND_GET_RUN: requests.get_run,
        protocol.COMMAND_CANCEL_RUN: requests.cancel_run,
        protocol.COMMAND_RETRY_RUN: requests.retry_run,
        protocol.COMMAND_LIST_TEMPLATES: requests.list_templates,
        protocol.COMMAND_OPEN_TASK_RESULT: requests.open_task_result,
    }
    for name, handler in commands.items():
        server.command(name)(_command(name, handler))
    _register_lifecycle(server)
    return server


def _command(name: str, handler: Handler) -> Callable[..., Awaitable[Json]]:
    """A command takes its request's params object as its one argument."""

    async def run(*arguments: Any) -> Json:
        if len(arguments) > 1:
            raise InputError(f"{name} takes one argument, the params object; got {len(arguments)}")
        return await handler(arguments[0] if arguments else None)

    return rpc_errors(run)


def _register_lifecycle(server: ParallelAILanguageServer) -> None:
    requests = server.requests

    @server.feature(types.INITIALIZED)
    def initialized(params: types.InitializedParams) -> None:
        server.background.spawn(requests.connect_early, "connecting to the daemon")
        if server.all_runs:
            server.followers.follow_all_runs()

    @server.feature(types.SHUTDOWN)
    def shutdown(params: None) -> None:
        server.stop()

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def progress_cancelled(params: types.WorkDoneProgressCancelParams) -> None:
        requests.progress_cancelled(params)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    async def code_action(params: types.CodeActionParams) -> list[types.CodeAction]:
        def text_of(uri: str) -> str:
            return server.workspace.get_text_document(uri).source

        async def report(run_id: str) -> FindingsReport | None:
            # Without the run's findings there is no patch to offer; the other actions still are.
            try:
                return await requests.findings_report(run_id)
            except ParallelAIError as error:
                log.info("no findings for run %s: %s", run_id, error)
                return None

        return await code_actions(params, report, text_of, server.workspace.position_codec.client_num_units)

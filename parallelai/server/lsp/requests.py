"""What each `parallelai/*` request (and its `workspace/executeCommand` twin) does: calls on the daemon.

Each takes the raw JSON params (None when the client sent none), validates them with the
models in `protocol`, and returns plain JSON; errors are mapped by `errors.rpc_errors` where
the handlers are registered.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from lsprotocol.types import MessageType, ProgressToken, ShowMessageParams, WorkDoneProgressCancelParams
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from parallelai.client.errors import DaemonError
from parallelai.server.lsp.background import Background
from parallelai.server.lsp.diagnostics import DiagnosticsBoard, FindingsReport
from parallelai.server.lsp.link import DaemonLink
from parallelai.server.lsp.progress import RunProgress
from parallelai.server.lsp.protocol import (
    DaemonConnection,
    ListRunsParams,
    NoParams,
    RetryRunParams,
    RunRef,
    StartRunParams,
    TaskRef,
    TaskResultView,
)
from parallelai.server.lsp.watch import RunFollowers
from parallelai.wire import RunCreated

log = logging.getLogger("parallelai.lsp")

Json = Any  # what a handler answers: JSON-ready dicts, lists and scalars


class Requests:
    def __init__(
        self,
        server: LanguageServer,
        link: DaemonLink,
        background: Background,
        followers: RunFollowers,
        board: DiagnosticsBoard,
        *,
        all_runs: bool = False,
    ) -> None:
        self._server = server
        self._all_runs = all_runs
        self._link = link
        self._background = background
        self._followers = followers
        self._board = board
        self._progress_runs: dict[ProgressToken, str] = {}

    # -- requests ------------------------------------------------------------------------

    async def daemon(self, raw: Json) -> Json:
        NoParams.model_validate(raw or {})
        client = await self._link.client()
        health = await client.health()
        if self._all_runs:
            # A client that starts runs right after this answer must see their findings.
            await self._followers.all_runs_covered()
        return DaemonConnection(url=client.info.url, token=client.info.token, version=health.version).wire()

    async def start_run(self, raw: Json) -> Json:
        params = StartRunParams.model_validate(raw or {})
        body = dict(params.run)
        root = self.workspace_root()
        workdir = body.get("workdir")
        if root is not None and (not workdir or isinstance(workdir, str)):
            # The editor's workspace, not the daemon's directory, is what a relative path means here.
            body["workdir"] = str(root / workdir) if workdir else str(root)
        client = await self._link.client()
        created = await client.create_run(body)
        progress = self._progress(created, params.work_done_token) if params.progress else None
        if params.watch or progress is not None:
            self._followers.follow(created.id, forward=params.watch, progress=progress)
        return created.model_dump(mode="json")

    async def list_runs(self, raw: Json) -> Json:
        params = ListRunsParams.model_validate(raw or {})
        client = await self._link.client()
        return [run.model_dump(mode="json") for run in await client.list_runs(params.state, params.limit)]

    async def get_run(self, raw: Json) -> Json:
        params = RunRef.model_validate(raw or {})
        client = await self._link.client()
        run = await client.run(params.run_id)
        tasks = await client.tasks(params.run_id)
        return {"run": run.model_dump(mode="json"), "tasks": [task.model_dump(mode="json") for task in tasks]}

    async def get_task(self, raw: Json) -> Json:
        params = TaskRef.model_validate(raw or {})
        client = await self._link.client()
        return (await client.task(params.run_id, params.task_id)).model_dump(mode="json")

    async def cancel_run(self, raw: Json) -> Json:
        params = RunRef.model_validate(raw or {})
        client = await self._link.client()
        return (await client.cancel(params.run_id)).model_dump(mode="json")

    async def retry_run(self, raw: Json) -> Json:
        params = RetryRunParams.model_validate(raw or {})
        client = await self._link.client()
        # Events from here on are the retry's: a watch starts there, not at the run's first end.
        after = (await client.health()).last_seq
        retried = await client.retry(params.run_id, params.tasks)
        if retried.retried and params.watch:
            self._followers.follow(params.run_id, forward=True, after=after)
        return retried.model_dump(mode="json")

    async def list_templates(self, raw: Json) -> Json:
        NoParams.model_validate(raw or {})
        client = await self._link.client()
        return [template.model_dump(mode="json") for template in await client.templates()]

    async def watch_run(self, raw: Json) -> Json:
        params = RunRef.model_validate(raw or {})
        client = await self._link.client()
        await client.run(params.run_id)  # an unknown run is the caller's mistake, answered now
        self._followers.follow(params.run_id, forward=True)
        return None

    async def unwatch_run(self, raw: Json) -> Json:
        params = RunRef.model_validate(raw or {})
        self._followers.unwatch(params.run_id)
        return None

    async def open_task_result(self, raw: Json) -> Json:
        params = TaskRef.model_validate(raw or {})
        client = await self._link.client()
        record = await client.task(params.run_id, params.task_id)
        result = record.result
        text = ""
        if result is not None:
            text = result.text or (
                json.dumps(result.structured, indent=2) if result.structured is not None else ""
            )
        return TaskResultView(
            run_id=params.run_id,
            task_id=params.task_id,
            state=record.state,
            text=text,
            error=result.error.message if result and result.error else record.reason,
        ).wire()

    # -- what the server does on its own ---------------------------------------------------

    async def connect_early(self) -> None:
        """On `initialized`: reach (or start) the daemon now, so the first request does not wait for it."""
        try:
            await self._link.client()
        except DaemonError as error:
            log.warning("cannot reach the daemon: %s", error)
            self._server.window_show_message(
                ShowMessageParams(type=MessageType.Warning, message=f"parallelai: {error}")
            )

    async def publish_findings(self, run_id: str) -> None:
        """A watched run finished: its findings replace the diagnostics shown so far (if it has any)."""
        if self._board.shown_run_id == run_id:
            return  # already shown (with --all-runs, its own follower and the all-runs one both end here)
        report = await self.findings_report(run_id)
        if report is not None and self._board.show(report):
            log.info("published %d findings of run %s", len(report.findings), run_id)

    async def findings_report(self, run_id: str) -> FindingsReport | None:
        known = self._board.report(run_id)
        if known is not None:
            return known
        root = self.workspace_root() or Path.cwd()
        client = await self._link.client()
        report = FindingsReport.of(await client.findings(run_id), root)
        self._board.keep(report)
        return report

    def progress_cancelled(self, params: WorkDoneProgressCancelParams) -> None:
        """The user cancelled a run's progress in the editor: cancel the run."""
        run_id = self._progress_runs.pop(params.token, None)
        if run_id is None:
            return

        async def cancel() -> None:
            client = await self._link.client()
            await client.cancel(run_id)

        self._background.spawn(cancel, f"cancelling run {run_id}")

    def workspace_root(self) -> Path | None:
        """The first workspace folder, else the root the client opened; None before `initialize`."""
        try:
            workspace = self._server.workspace
        except RuntimeError:
            return None
        for folder in workspace.folders.values():
            path = to_fs_path(folder.uri)
            if path:
                return Path(path)
        root: object = workspace.root_path
        return Path(root) if isinstance(root, str) and root else None

    def _progress(self, created: RunCreated, token: ProgressToken | None) -> RunProgress | None:
        """The run's progress on the client's token, or on one the server asks for (if the client can show it)."""
        window = self._server.client_capabilities.window
        asks = token is None
        if asks and not (window and window.work_done_progress):
            return None
        token = token if token is not None else f"parallelai/run/{created.id}"
        self._progress_runs[token] = created.id
        title = f"parallelai: {created.run.name or created.id}"
        return RunProgress(self._server.work_done_progress, token, title, created.run.total, create=asks)

"""The LSP surface's contract: method and command names, and pydantic models of their params and results.

Params and results are camelCase, as LSP is; the daemon's own JSON (RunOut, TaskOut, CreateRun…)
travels inside them unchanged, snake_case, so a client can share types with the HTTP API.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from parallelai.models import RunState, TaskState

# -- requests (client → server) and the notification (server → client) ---------------------

DAEMON = "parallelai/daemon"
START_RUN = "parallelai/startRun"
LIST_RUNS = "parallelai/listRuns"
GET_RUN = "parallelai/getRun"
GET_TASK = "parallelai/getTask"
CANCEL_RUN = "parallelai/cancelRun"
RETRY_RUN = "parallelai/retryRun"
LIST_TEMPLATES = "parallelai/listTemplates"
WATCH_RUN = "parallelai/watchRun"
UNWATCH_RUN = "parallelai/unwatchRun"
RUN_EVENT = "parallelai/runEvent"

# -- workspace/executeCommand commands ------------------------------------------------------
# `.server.` keeps them apart from the VS Code extension's own command ids.

COMMAND_START_RUN = "parallelai.server.startRun"
COMMAND_LIST_RUNS = "parallelai.server.listRuns"
COMMAND_GET_RUN = "parallelai.server.getRun"
COMMAND_CANCEL_RUN = "parallelai.server.cancelRun"
COMMAND_RETRY_RUN = "parallelai.server.retryRun"
COMMAND_LIST_TEMPLATES = "parallelai.server.listTemplates"
COMMAND_OPEN_TASK_RESULT = "parallelai.server.openTaskResult"

DIAGNOSTIC_SOURCE = "parallelai"


class _Message(BaseModel):
    """camelCase on the wire, snake_case in Python; a misspelt key is refused, not ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class NoParams(_Message):
    pass


class StartRunParams(_Message):
    run: dict[str, Any] = Field(description="a create-run body, exactly as `POST /v1/runs` takes it")
    watch: bool = True
    progress: bool = True
    # A client may start the progress itself (LSP's work-done progress params); the server then
    # reports on that token instead of asking for one.
    work_done_token: int | str | None = None


class ListRunsParams(_Message):
    state: RunState | None = None
    limit: int = Field(50, gt=0, le=1000)


class RunRef(_Message):
    run_id: str = Field(min_length=1)


class RetryRunParams(_Message):
    run_id: str = Field(min_length=1)
    tasks: list[str] = Field(
        default_factory=list, description="the failed, cancelled or skipped tasks to run again (default: all)"
    )
    # Send the retry's events as `parallelai/runEvent`, and its findings as diagnostics at its end.
    watch: bool = True


class TaskRef(_Message):
    run_id: str = Field(min_length=1)
    task_id: str = Field(min_length=1)


class DaemonConnection(_Message):
    url: str
    token: str
    version: str


class TaskResultView(_Message):
    """What `openTaskResult` returns: enough to show a task's answer (or its error) in an editor."""

    run_id: str
    task_id: str
    state: TaskState
    text: str
    error: str | None


class DiagnosticData(_Message):
    """Attached to every diagnostic, so a code action knows which run and task reported it."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    task_id: str | None = None

"""The daemon's HTTP API as data: a pydantic model for every body it accepts or answers.

The contract between the server (`server/http/`, whose OpenAPI document is made from these) and
its clients (`client.DaemonClient`, used by the command line, the MCP relay and the language
server). Neither side owns it, so a client never imports the server to read an answer.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parallelai.engines.base import EngineStatus
from parallelai.events import Event
from parallelai.models import (
    RunLimits,
    RunState,
    RunSummary,
    StrategyName,
    TaskRecord,
    TaskState,
    Usage,
)
from parallelai.orchestration._isolation_rows import ChangeOutcome
from parallelai.orchestration.strategies import Work
from parallelai.reports.changes import RunChanges
from parallelai.reports.findings import Finding
from parallelai.run_request import SOURCES, RunRequest, warn_renamed
from parallelai.templates.catalog import TemplateDetail, TemplateParam
from parallelai.workspaces.changes import FileStat


class _Body(BaseModel):
    """Request bodies refuse unknown fields: a typo is a 422, not a silently ignored setting."""

    model_config = ConfigDict(extra="forbid")


# -- requests ------------------------------------------------------------------------------


# A run needs a task: the sources that list tasks list one at least.
_AT_LEAST_ONE: dict[str, dict[str, Any]] = {
    "prompts": {"minItems": 1},
    "tasks": {"minItems": 1},
    "planned": {"properties": {"tasks": {"minItems": 1}}},
}


def _one_source_schema(schema: dict[str, Any]) -> None:
    """Say in the document what `RunRequest` checks: exactly one source of work is given (not
    null), and `params` (when not empty) only with a `template`. Without it a generated `{}` is
    schema-valid and the server's 422 looks like a broken promise."""
    schema["oneOf"] = [
        {
            "required": [source],
            "properties": {source: {"not": {"type": "null"}, **_AT_LEAST_ONE.get(source, {})}},
        }
        for source in SOURCES
    ]
    schema["if"] = {"required": ["params"], "properties": {"params": {"minProperties": 1}}}
    schema["then"] = {"required": ["template"], "properties": {"template": {"type": "string"}}}


class CreateRun(RunRequest):
    """A run: one source of work — `prompts`, `tasks`, `tasks_file`, `work` (as a tasks file has it,
    with its `strategy`), a `template` with `params`, or `planned` (a run a client planned itself,
    taken as it is) — plus the run's settings, named as everywhere else (docs/names.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_one_source_schema)

    work: Work | None = Field(  # type: ignore[assignment]  # typed here: a 422 names the bad field
        default=None, description="the work as a tasks file has it, with its `strategy`"
    )
    limits: RunLimits | None = Field(
        default=None,
        description="old, nested form of the settings `parallel`, `per_engine`, `max_cost_usd`, "
        "`max_tokens` and `fail_fast`; accepted until the next release",
    )

    def request(self) -> RunRequest:
        """The body as the one request type every surface builds (old `limits` flattened)."""
        data = self.model_dump(exclude_unset=True, exclude={"work", "limits", "planned"})
        if self.work is not None:
            data["work"] = self.work.model_dump(mode="json", exclude_unset=True) | {
                "strategy": self.work.strategy
            }
        if self.planned is not None:
            data["planned"] = self.planned
        if self.limits is not None:
            warn_renamed(
                "POST /v1/runs: `limits` is now flat settings (`parallel`, `per_engine`, `max_cost_usd`, "
                "`max_tokens`, `fail_fast`, `backoff_base_s`, `backoff_cap_s`); `limits` is accepted until "
                "the next release"
            )
            given = self.limits.model_dump(exclude_unset=True)
            for old, new in LIMITS_NOW.items():
                if old in given:
                    data.setdefault(new, given[old])
        return RunRequest.model_validate(data)


# The old nested `limits` keys and the flat settings that replace them.
LIMITS_NOW = {
    "max_parallel": "parallel",
    "per_engine": "per_engine",
    "max_cost_usd": "max_cost_usd",
    "max_tokens": "max_tokens",
    "fail_fast": "fail_fast",
    "backoff_base_s": "backoff_base_s",
    "backoff_cap_s": "backoff_cap_s",
}


class RetryRun(_Body):
    tasks: list[str] = Field(
        default_factory=list,
        description="the failed, cancelled or skipped tasks to run again (default: all of them); "
        "the tasks that depend on them run again too",
    )


class ListRunsQuery(_Body):
    state: RunState | None = None
    limit: int = Field(50, gt=0, le=1000)
    offset: int = Field(0, ge=0, le=10**9, description="skip this many of the newest first (a page)")


# The response header of `GET /v1/runs/{id}/tasks` that carries the run's change counter.
TASKS_CURSOR_HEADER = "ParallelAI-Cursor"


class TasksQuery(_Body):
    changed_after: int | None = Field(
        None,
        ge=0,
        lt=10**18,
        description="only the tasks whose state, reason, retry time, attempts or result changed after "
        f"this cursor: the `{TASKS_CURSOR_HEADER}` header of an earlier answer (default: every task)",
    )
    limit: int | None = Field(None, gt=0, le=10**9, description="at most this many tasks (default: all)")
    offset: int = Field(0, ge=0, le=10**9, description="skip this many tasks first, in plan order")


class EventsQuery(_Body):
    after: int | None = Field(  # at most 18 digits, as Last-Event-ID: SQLite's integers are 64-bit
        None, ge=0, lt=10**18, description="replay events with a larger seq (the Last-Event-ID header wins)"
    )


# -- responses -----------------------------------------------------------------------------


class RunOut(BaseModel):
    """A run with its counts, cost and timing."""

    id: str
    name: str | None
    strategy: StrategyName
    state: RunState
    created_at: float
    finished_at: float | None
    elapsed_s: float
    total: int
    counts: dict[TaskState, int]
    usage: Usage
    reused: int = 0
    note: str | None = None
    executed_by: str | None = Field(
        default=None, description="the live process executing it now, e.g. the daemon or a `parallelai run`"
    )
    active: bool = Field(description="being executed right now, by this daemon or another process")
    default_engine: str | None = Field(default=None, description="what its tasks that name no engine run on")
    max_parallel: int | None = Field(default=None, description="its limit of tasks running at once")

    @classmethod
    def of(cls, summary: RunSummary) -> RunOut:
        end = summary.finished_at or time.time()
        return cls(
            **summary.model_dump(),
            total=summary.total,
            elapsed_s=max(0.0, end - summary.created_at),
            active=summary.executed_by is not None,
        )


class RunCreated(BaseModel):
    id: str
    run: RunOut


class RunRetried(BaseModel):
    retried: int = Field(description="tasks queued again (0: nothing to retry, the run is unchanged)")
    run: RunOut


class TaskOut(BaseModel):
    """One row of a run's task table (the full record is at the task's own URL)."""

    id: str
    state: TaskState
    engine: str | None
    attempts: int
    depends_on: list[str]
    reason: str | None = None
    retry_at: float | None = Field(default=None, description="when a retrying task is ready again")
    error: str | None = None
    duration_s: float | None = None
    cost_usd: float = 0.0

    @classmethod
    def of(cls, record: TaskRecord) -> TaskOut:
        result = record.result
        return cls(
            id=record.task.id,
            state=record.state,
            engine=record.task.engine,
            attempts=len(record.attempts),
            depends_on=record.task.depends_on,
            reason=record.reason,
            retry_at=record.retry_at,
            error=result.error.message if result and result.error else None,
            duration_s=result.duration_s if result else None,
            cost_usd=result.usage.cost_usd if result else 0.0,
        )


class TaskDetail(TaskRecord):
    log: list[Event] = Field(default_factory=list, description="the task's events, oldest first")


class CancelTaskResult(BaseModel):
    run_id: str
    task_id: str
    cancelled: bool = Field(description="false when the task had already finished or the run is idle")


class TemplateOut(BaseModel):
    name: str
    description: str = ""
    params: list[str] = Field(default_factory=list, description="the parameters' names")
    parameters: list[TemplateParam] = Field(default_factory=list, description="each parameter in full")

    @classmethod
    def of(cls, detail: TemplateDetail) -> TemplateOut:
        return cls(
            name=detail.name,
            description=detail.description,
            params=[param.name for param in detail.params],
            parameters=detail.params,
        )


class RunFindings(BaseModel):
    """What a review or audit run found, aggregated across its tasks, and the patches it suggests."""

    run_id: str
    workdir: str = Field(description="the run's workspace root; finding files are relative to it")
    reviewed: bool = Field(
        False, description="its tasks report findings (a review or audit): no findings means none found"
    )
    findings: list[Finding]
    counts: dict[str, int] = Field(description="findings per severity")
    patches: dict[str, str] = Field(default_factory=dict, description="unified diffs, by file")


class TaskChangeOut(BaseModel):
    """What one task of an isolated run changed, as captured, and what became of it."""

    task_id: str
    outcome: ChangeOutcome = Field(
        description="merged onto the run's branch; conflict: it did not apply on top of the changes "
        "merged before it; outside_scope: it changed files its `files` do not cover (not merged)"
    )
    commit: str | None = Field(description="its commit on the branch; null unless merged (or empty)")
    insertions: int
    deletions: int
    files: list[FileStat] = Field(description="a diffstat per file; binary files count no lines")


class RunChangesOut(BaseModel):
    """An isolated run's changes: its branch, its base and each task's captured change, in task order."""

    run_id: str
    branch: str = Field(
        description="the integration branch, `parallelai/<run>`: `parallelai apply` merges it"
    )
    base: str = Field(description="the commit every task started from")
    tasks: list[TaskChangeOut] = Field(
        description="each task whose change was captured (its agent succeeded), merged or not"
    )

    @classmethod
    def of(cls, changes: RunChanges) -> RunChangesOut:
        return cls(
            run_id=changes.run_id,
            branch=changes.branch,
            base=changes.base,
            tasks=[
                TaskChangeOut(
                    task_id=stored.task_id,
                    outcome=stored.outcome,
                    commit=stored.merged_as,
                    insertions=stored.change.insertions,
                    deletions=stored.change.deletions,
                    files=list(stored.change.files),
                )
                for stored in changes.tasks
            ],
        )


class EngineOut(EngineStatus):
    pass


class RateGateOut(BaseModel):
    """One provider account's rate gate in the daemon (docs/rate-limits.md): per-minute figures."""

    provider: str
    endpoint: str
    key_id: str = Field(description="12 hex digits of the key's SHA-256 (never the key), or empty")
    learnt: bool = Field(description="a response or the settings have said what the limits are")
    limits: dict[str, float] = Field(
        description="per minute, by dimension: requests, tokens, input_tokens, …"
    )
    remaining: dict[str, float] = Field(description="as the provider last reported it")
    available: dict[str, float] = Field(description="what the gate would let go right now")
    paused_until: float | None = Field(description="epoch seconds, while a 429's retry-after runs")
    waiting: int
    admitted: int
    refused: int = Field(description="429s the provider answered")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    pid: int
    version: str
    last_seq: int = Field(description="the newest event's seq")


class DashboardLink(BaseModel):
    url: str = Field(description="opens the dashboard once; the code in it expires")
    expires_in_s: float


class FieldProblem(BaseModel):
    location: str
    message: str


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str
    details: list[FieldProblem] = Field(default_factory=list)


class ErrorBody(BaseModel):
    error: ErrorDetail

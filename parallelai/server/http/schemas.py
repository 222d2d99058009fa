"""Pydantic models for every HTTP body the API accepts or returns; the OpenAPI document uses them."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from parallelai.engines.base import EngineStatus
from parallelai.events import Event
from parallelai.models import (
    RunLimits,
    RunSpec,
    RunState,
    RunSummary,
    StrategyName,
    TaskRecord,
    TaskState,
    Usage,
)
from parallelai.orchestration.strategies import Work
from parallelai.reports.findings import Finding
from parallelai.templates.catalog import TemplateDetail, TemplateParam


class _Body(BaseModel):
    """Request bodies refuse unknown fields: a typo is a 422, not a silently ignored setting."""

    model_config = ConfigDict(extra="forbid")


# -- requests ------------------------------------------------------------------------------


class CreateRun(_Body):
    """A run from `prompts` (parallel), `work` (any strategy, as in a tasks file), a `template`, or
    `planned`: a run a client planned itself (`parallelai run --daemon`), taken as it is."""

    name: str | None = None
    engine: str = Field("echo", description="default engine for tasks naming none, `name[:model]`")
    prompts: list[str] | None = None
    work: Work | None = None
    template: str | None = None
    planned: RunSpec | None = Field(
        None, description="a fully planned run; its own engine, limits and settings apply"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="a template's parameters")
    limits: RunLimits = Field(default_factory=RunLimits)
    engine_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    use_cache: bool = True
    workdir: str | None = Field(None, description="the workspace root; default: the daemon's directory")

    @model_validator(mode="after")
    def _one_source(self) -> CreateRun:
        given = [key for key in ("prompts", "work", "template", "planned") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `prompts`, `work`, `template` or `planned`")
        return self


class RetryRun(_Body):
    tasks: list[str] = Field(
        default_factory=list,
        description="the failed, cancelled or skipped tasks to run again (default: all of them); "
        "the tasks that depend on them run again too",
    )


class ListRunsQuery(_Body):
    state: RunState | None = None
    limit: int = Field(50, gt=0, le=1000)


class EventsQuery(_Body):
    after: int | None = Field(
        None, ge=0, description="replay events with a larger seq (the Last-Event-ID header wins)"
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


class EngineOut(EngineStatus):
    pass


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

"""What the MCP tools take and give back: pydantic models, so clients get JSON schemas for both."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from parallelai.engines.base import EngineStatus
from parallelai.models import RunState, RunSummary, StrategyName, TaskRecord, TaskState
from parallelai.templates.catalog import TemplateSummary


class TaskInput(BaseModel):
    """One task given as an object, when a plain prompt string is not enough."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(description="What the sub-agent should do. May use {{ name }} for `inputs`.")
    id: str | None = Field(
        default=None,
        description="A short id (letters, digits, _ . -) so other tasks can depend on it; default t001, t002…",
    )
    engine: str | None = Field(
        default=None, description="Engine for this task only, `name[:model]`; default: the run's engine."
    )
    depends_on: list[str] = Field(
        default_factory=list,
        description="Ids of tasks that must finish first; their outputs fill {{ output }} / {{ outputs.ID }}.",
    )
    files: list[str] = Field(
        default_factory=list, description="Files (relative to workdir) the sub-agent is given to read."
    )
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Values substituted into {{ name }} placeholders in the prompt."
    )
    timeout_s: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="Seconds before this task is stopped."
    )
    engine_options: dict[str, Any] = Field(
        default_factory=dict, description="Engine settings for this task only; they win over the run's."
    )


class RunStatus(BaseModel):
    """Where a run stands."""

    run_id: str
    name: str | None
    state: RunState
    strategy: StrategyName
    total: int = Field(description="Tasks in the run.")
    done: int = Field(description="Tasks in a final state (succeeded, failed, cancelled, skipped).")
    counts: dict[TaskState, int]
    cost_usd: float
    tokens: int
    reused: int = Field(description="Tasks answered from the cache of an earlier identical task.")
    created_at: float
    finished_at: float | None
    note: str | None = Field(description="Why the run stopped early (budget, fail-fast), if it did.")
    executed_by: str | None = Field(
        default=None, description="The process executing it right now (the daemon, or a CLI run)."
    )
    next_step: str = Field(description="What to do next with this run.")

    @classmethod
    def of(cls, summary: RunSummary) -> RunStatus:
        done = sum(count for state, count in summary.counts.items() if state.is_final)
        return cls(
            run_id=summary.id,
            name=summary.name,
            state=summary.state,
            strategy=summary.strategy,
            total=summary.total,
            done=done,
            counts={state: count for state, count in summary.counts.items() if count},
            cost_usd=summary.usage.cost_usd,
            tokens=summary.usage.total_tokens,
            reused=summary.reused,
            created_at=summary.created_at,
            finished_at=summary.finished_at,
            note=summary.note,
            executed_by=summary.executed_by,
            next_step=_next_step(summary),
        )


def _next_step(summary: RunSummary) -> str:
    if summary.state is RunState.SUCCEEDED:
        return f"call get_results(run_id={summary.id!r}) to read the outputs"
    if summary.state.is_final:
        return (
            f"call get_results(run_id={summary.id!r}) to read outputs and errors of each task; "
            f"retry_run(run_id={summary.id!r}) runs the tasks that did not succeed again"
        )
    if summary.state is RunState.INTERRUPTED:
        return f"the run's process stopped; resume it with `parallelai resume {summary.id}`"
    return (
        f"still running; call run_status(run_id={summary.id!r}, wait=true) to wait for it, "
        "or get_results to read what has finished"
    )


class RunList(BaseModel):
    runs: list[RunStatus]


class TaskOutcome(BaseModel):
    """One task of a run and what its sub-agent produced."""

    task_id: str
    state: TaskState
    prompt: str
    text: str = Field(description="The sub-agent's answer (cut to max_chars; see `truncated`).")
    truncated: bool
    structured: Any = Field(default=None, description="Structured output, when the task asked for one.")
    error: str | None = Field(default=None, description="Why the task failed, when it did.")
    attempts: int
    cost_usd: float
    tokens: int

    @classmethod
    def of(cls, record: TaskRecord, max_chars: int) -> TaskOutcome:
        result = record.result
        text = result.text if result else ""
        error = (result.error.message if result and result.error else None) or (
            record.reason
            if record.state in {TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED}
            else None
        )
        return cls(
            task_id=record.task.id,
            state=record.state,
            prompt=record.task.prompt,
            text=text[:max_chars],
            truncated=len(text) > max_chars,
            structured=result.structured if result else None,
            error=error,
            attempts=len(record.attempts),
            cost_usd=result.usage.cost_usd if result else 0.0,
            tokens=result.usage.total_tokens if result else 0,
        )


class ResultsPage(BaseModel):
    """A page of a run's task results, in task order."""

    run: RunStatus
    offset: int
    limit: int
    total: int = Field(description="Tasks matching the filter, across all pages.")
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on the last page.")
    tasks: list[TaskOutcome]


class EngineList(BaseModel):
    engines: list[EngineStatus]
    hint: str = (
        "pass `engine` to start_run as `name` or `name:model`; only engines with available=true can run"
    )


class TemplateList(BaseModel):
    templates: list[TemplateSummary]

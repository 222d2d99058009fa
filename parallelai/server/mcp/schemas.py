"""What the MCP tools take and give back: pydantic models, so clients get JSON schemas for both."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from parallelai.engines.base import EngineStatus
from parallelai.models import GateResult, RunState, RunSummary, StrategyName, TaskState
from parallelai.orchestration._isolation_rows import ChangeOutcome
from parallelai.reports.findings import Finding
from parallelai.templates.catalog import TemplateSummary
from parallelai.workspaces.changes import FileStat


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
    gates: list[GateResult] = Field(
        default_factory=list,
        description="The commands parallelai ran itself once the tasks were done (tests, linters): "
        "each one's state, exit code and output tail. A failed gate fails the run.",
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
            gates=summary.gates,
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


class ChangeStat(BaseModel):
    """What a task of an isolated run changed in its own worktree: a diffstat, and whether it was merged."""

    outcome: ChangeOutcome = Field(
        description="merged onto the run's branch; conflict: it did not apply on top of what was merged "
        "before it; outside_scope: it changed files its `files` do not cover. Only merged changes are on the branch."
    )
    summary: str = Field(description="e.g. `changed 3 files, +10 -2`.")
    insertions: int
    deletions: int
    files: list[FileStat] = Field(description="Per file: lines added and removed, or binary.")
    files_left_out: int = Field(
        0, description="Files changed but not listed in `files`, to keep the result short."
    )


class RunChangesTotal(BaseModel):
    """An isolated run's changes together: where they are and how to look at and take them."""

    branch: str = Field(description="The branch holding the merged changes, `parallelai/<run>`.")
    base: str = Field(description="The commit every task started from.")
    summary: str = Field(description="e.g. `2 tasks merged: changed 3 files, +10 -2`.")
    tasks_merged: int
    files_changed: int = Field(description="Files the merged changes touch.")
    insertions: int = Field(
        description="Lines added by the merged changes (each task's own count, added up)."
    )
    deletions: int
    not_merged: list[str] = Field(
        default_factory=list, description="Tasks whose change is not on the branch (conflict, outside scope)."
    )
    next_step: str = Field(description="How to see the patch, and how the user takes the changes.")


class TaskAnswer(BaseModel):
    """One task of a run and what its sub-agent answered."""

    task_id: str
    state: TaskState
    text: str = Field(
        description="The answer as text, cut to fit (see `truncated`). Empty when the task has "
        "`structured` output and its text only repeats it."
    )
    truncated: bool = Field(description="The answer was cut (or its structured output given as cut text).")
    structured: Any = Field(
        default=None, description="Structured output (templates with an output schema), when there is one."
    )
    error: str | None = Field(default=None, description="Why the task failed, was cancelled or skipped.")
    change: ChangeStat | None = Field(
        default=None,
        description="Isolated runs: what the task changed (get_diff shows the patch). Null for other "
        "runs, and until the task's agent has succeeded.",
    )


class TaskOutcome(TaskAnswer):
    """A task as get_results shows it: its answer, its prompt and what it cost."""

    prompt: str
    attempts: int
    cost_usd: float
    tokens: int


class TaskFailure(BaseModel):
    """A failed task, in brief: its error is cut to a few hundred characters (ending in …)."""

    task_id: str
    error: str


class RunResults(RunStatus):
    """A run's status with what its sub-agents produced, cut to fit a budget of characters."""

    failed: list[TaskFailure] = Field(
        description="Failed tasks and why, listed before any answer so a budget never hides them."
    )
    findings: list[Finding] | None = Field(
        description="Review and audit runs: the problems reported, deduplicated, most severe first. "
        "Null for other runs."
    )
    findings_by_severity: dict[str, int] | None = Field(
        description="How many findings there are per severity, listed or not."
    )
    tasks: list[TaskAnswer] = Field(
        description="The answers of the finished tasks before `next_offset` (all when it is null), in task order."
    )
    next_offset: int | None = Field(
        description="The first task not shown, for get_results(offset=...); null when none is left out."
    )
    truncated: bool = Field(
        description="Something was cut or left out to fit the budget; see `results_note`."
    )
    results_note: str | None = Field(description="What was cut to fit, and how to read the rest.")
    changes: RunChangesTotal | None = Field(
        default=None,
        description="Isolated runs: the changes on the run's branch, in total; each task's own is its `change`. "
        "Null for runs without isolation.",
    )


class ResultsPage(BaseModel):
    """A page of a run's task results, in task order."""

    run: RunStatus
    offset: int
    limit: int
    total: int = Field(description="Tasks matching the filter, across all pages.")
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on the last page.")
    tasks: list[TaskOutcome]
    changes: RunChangesTotal | None = Field(
        default=None, description="Isolated runs: the changes on the run's branch, in total. Null otherwise."
    )


class Patch(BaseModel):
    """A patch of an isolated run: its branch against its base (every merged change), or one task's change."""

    run_id: str
    task_id: str | None = Field(description="The task whose change this is; null for the whole run's branch.")
    branch: str
    base: str
    outcome: ChangeOutcome | None = Field(
        default=None, description="What became of the task's change; null for the whole run."
    )
    summary: str = Field(description="Its diffstat, e.g. `changed 3 files, +10 -2`.")
    patch: str = Field(
        description="The unified diff (binary files in git's base85 form), cut to fit `max_chars`."
    )
    chars: int = Field(description="The whole patch's length in characters.")
    truncated: bool = Field(description="The patch was cut at a line end; see `note`.")
    note: str | None = Field(default=None, description="What was cut, and how to see the rest.")


class EngineList(BaseModel):
    engines: list[EngineStatus]
    hint: str = (
        "pass `engine` to start_run as `name` or `name:model`; only engines with available=true can run"
    )


class TemplateList(BaseModel):
    templates: list[TemplateSummary]

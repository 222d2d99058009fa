"""The one event union: everything that happens in a run, serialised the same way everywhere.

Every event carries the run it belongs to and, once published, a store-wide monotonic `seq`
so a subscriber (SSE, MCP, LSP, the terminal) can resume exactly where it left off.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

from parallelai.models import ErrorKind, GateResult, RunState, StrategyName, TaskState, Usage


class _Event(BaseModel):
    seq: int = 0
    at: float = Field(default_factory=time.time)
    run_id: str


class RunCreated(_Event):
    type: Literal["run.created"] = "run.created"
    name: str | None
    strategy: StrategyName
    task_count: int


class RunStarted(_Event):
    type: Literal["run.started"] = "run.started"
    resumed: bool = False
    requeued: int = 0  # tasks that were in flight or unfinished when the run was resumed


class RunFinished(_Event):
    type: Literal["run.finished"] = "run.finished"
    state: RunState
    counts: dict[TaskState, int]
    usage: Usage
    reused: int = 0
    note: str | None = None
    gates: list[GateResult] = Field(default_factory=list)


class TaskStateChanged(_Event):
    type: Literal["task.state"] = "task.state"
    task_id: str
    state: TaskState
    attempt: int = 0
    reason: str | None = None
    error_kind: ErrorKind | None = None
    reused: bool = False
    retry_at: float | None = None  # with `retrying`: when the task is ready again (epoch seconds)


class TaskOutput(_Event):
    """A piece of an agent's answer as it streams in."""

    type: Literal["task.output"] = "task.output"
    task_id: str
    text: str


class TaskActivity(_Event):
    """Something the agent did that is not answer text: a tool call, a tool result, a note."""

    type: Literal["task.activity"] = "task.activity"
    task_id: str
    kind: str
    detail: str


class TaskUsage(_Event):
    type: Literal["task.usage"] = "task.usage"
    task_id: str
    usage: Usage


class TaskRetrying(_Event):
    """Why a task is `retrying` and for how long (the state change itself is a `task.state`)."""

    type: Literal["task.retrying"] = "task.retrying"
    task_id: str
    attempt: int  # the attempt that failed
    delay_s: float
    error_kind: ErrorKind
    message: str


class RateLimited(_Event):
    """An engine reported a provider limit; schedulers and dashboards use it."""

    type: Literal["rate.limited"] = "rate.limited"
    task_id: str
    engine: str
    retry_after_s: float | None


class ConcurrencyChanged(_Event):
    """The adaptive strategy changed how many attempts of `engine` may run at once, and why.

    `old` is None for the limit a run starts with. `limit` never exceeds the run's `parallel`
    (nor the engine's own limit). A refusal's retry-after pauses the engine's new attempts; the
    `reason` says for how long.
    """

    type: Literal["concurrency.changed"] = "concurrency.changed"
    engine: str
    old: int | None
    limit: int
    reason: str


class BudgetReached(_Event):
    type: Literal["budget.reached"] = "budget.reached"
    limit: Literal["cost", "tokens"]
    spent: float
    maximum: float


class GateStarted(_Event):
    """parallelai started one of the run's gates (its commands run once the tasks are done)."""

    type: Literal["gate.started"] = "gate.started"
    name: str
    command: str


class GateFinished(_Event):
    """A gate passed, failed or was skipped; `result` carries its exit code and output tail."""

    type: Literal["gate.finished"] = "gate.finished"
    result: GateResult


Event = Annotated[
    RunCreated
    | RunStarted
    | RunFinished
    | TaskStateChanged
    | TaskOutput
    | TaskActivity
    | TaskUsage
    | TaskRetrying
    | RateLimited
    | ConcurrencyChanged
    | BudgetReached
    | GateStarted
    | GateFinished,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def event_from_json(data: str | bytes) -> Event:
    return EVENT_ADAPTER.validate_json(data)

"""The shared vocabulary of work: tasks, runs, limits, states, attempts and results."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

TASK_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


class _Strict(BaseModel):
    """Boundary models refuse unknown fields: a typo must be an error, not a silent default."""

    model_config = ConfigDict(extra="forbid")


class TaskState(StrEnum):
    """Where a task stands; also the state of one attempt (running, then how it ended).

    Only `running` holds one of the run's slots: a task waiting out a retry backoff is `retrying`,
    and one whose attempt was cut off by its process stopping or dying is `interrupted`.
    """

    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    RETRYING = "retrying"  # waits until `retry_at` to be ready again
    INTERRUPTED = "interrupted"  # its attempt was cut off; `resume` runs it again
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_TASK_STATES

    @property
    def after_interruption(self) -> TaskState:
        """Where a task stands once its run stopped unfinished: one whose attempt was cut off is
        `interrupted`; one waiting for a slot or a retry is `pending` again; others stay as they are."""
        if self is TaskState.RUNNING:
            return TaskState.INTERRUPTED
        if self in (TaskState.READY, TaskState.RETRYING):
            return TaskState.PENDING
        return self


_FINAL_TASK_STATES = frozenset(
    {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED}
)


class RunState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its process died; `resume` continues it

    @property
    def is_final(self) -> bool:
        return self in {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED}


class ErrorKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    TRANSIENT = "transient"
    TIMEOUT = "timeout"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    SPEND_LIMIT = "spend_limit"
    EXECUTION = "execution"  # the agent ran and failed (non-zero exit, invalid output)
    CANCELLED = "cancelled"
    INTERNAL = "internal"  # a bug in an engine; recorded, never raised into the scheduler

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.OVERLOADED, ErrorKind.TRANSIENT, ErrorKind.TIMEOUT})

StrategyName = Literal["parallel", "batch", "pipeline", "mapreduce", "dag", "adaptive"]
StrategyAlias = Literal["intelligent"]
# Another name users reach for; validation turns it into the strategy's own, so the store keeps one.
STRATEGY_ALIASES: dict[str, StrategyName] = {"intelligent": "adaptive"}
# Every name a user may write (the strategies, then their aliases).
STRATEGY_NAMES: tuple[StrategyName | StrategyAlias, ...] = (
    "parallel",
    "batch",
    "pipeline",
    "mapreduce",
    "dag",
    "adaptive",
    "intelligent",
)


def canonical_strategy(name: str) -> str:
    """`name` with an alias replaced by the strategy it stands for; anything else unchanged."""
    return STRATEGY_ALIASES.get(name, name)


class EngineSpec(BaseModel):
    """`name[:model]`, e.g. `claude-code`, `openai:gpt-4.1`, `ollama:llama3`."""

    model_config = ConfigDict(frozen=True)

    name: str
    model: str | None = None

    @classmethod
    def parse(cls, spec: str) -> EngineSpec:
        name, _, model = spec.strip().partition(":")
        return cls(name=name, model=model or None)

    def __str__(self) -> str:
        return f"{self.name}:{self.model}" if self.model else self.name


@runtime_checkable
class EngineObject(Protocol):
    """An engine given as an object rather than a name: `ClaudeCode(model="sonnet")` (made and
    checked in parallelai/engines/chosen.py). It means what its `spec` string (`name[:model]`)
    means, with `settings` as that engine's settings. What takes one keeps the string: a task
    stores `engine: "claude-code:sonnet"` and the settings under its `engine_options`."""

    @property
    def spec(self) -> str: ...

    @property
    def settings(self) -> Mapping[str, Any]: ...


def engine_and_fallbacks(data: Any, engine_key: str = "engine") -> Any:
    """`data` with a list given as its engine split in two: the first entry is the engine, the
    rest go before its `fallbacks` (docs/rate-limits.md, "Failover"). Anything else unchanged."""
    if not isinstance(data, dict) or not isinstance(data.get(engine_key), list | tuple):
        return data
    first, *rest = data[engine_key] or [None]
    fallbacks = data.get("fallbacks") or []
    if not isinstance(fallbacks, list | tuple):
        return data  # for validation to say what is wrong with it
    return {**data, engine_key: first, "fallbacks": [*rest, *fallbacks]}


def _no_repeats(engines: list[str]) -> list[str]:
    for engine in engines:
        if not engine.strip():
            raise ValueError("a fallback engine is `name[:model]`, not an empty string")
    return list(dict.fromkeys(engines))


# Engines a task moves to, in order, when its engine refuses it for good (docs/rate-limits.md).
Fallbacks = Annotated[list[str], AfterValidator(_no_repeats)]


def settings_under(settings: Mapping[str, Any], own: Any) -> Any:
    """`own` settings over an engine object's `settings`; `own` untouched if it is no mapping, so
    that validation says what is wrong with it."""
    if own is None:
        return dict(settings)
    return {**settings, **own} if isinstance(own, Mapping) else own


class TaskOptions(_Strict):
    timeout: Annotated[float, Field(gt=0)] | None = None
    retries: Annotated[int, Field(ge=0, le=100, strict=True)] = 2  # strict: `false` is no count
    output_schema: dict[str, Any] | None = None
    workdir: str | None = None
    engine_options: dict[str, Any] = Field(default_factory=dict)


class Gate(_Strict):
    """A shell command parallelai runs itself: a run's in its workdir once every task is done (in a
    run with isolation: in a checkout of the integration branch); a task's in the task's worktree
    after its agent succeeded.

    Its exit code, never an agent's answer, says whether the work holds: a run's gate that exits
    non-zero (or times out) fails the run; a task's is shown to its agent, and fails the task if
    it still fails after the agent's second try (docs/isolation.md, "Gates").
    """

    command: Annotated[str, Field(min_length=1)]
    name: str | None = None  # how reports name it; default: the command
    timeout: Annotated[float, Field(gt=0)] | None = None  # seconds; default: no limit

    @property
    def label(self) -> str:
        return self.name or self.command


def _gate_from_command(value: Any) -> Any:
    return {"command": value} if isinstance(value, str) else value


# A gate is given as its command, or as an object (`command`, `name`, `timeout`).
GateInput = Annotated[Gate, BeforeValidator(_gate_from_command)]


class Task(_Strict):
    """One unit of work for one sub-agent.

    `prompt` may use `{{ name }}` placeholders for `inputs` and, when the task has dependencies,
    `{{ output }}` (all dependency outputs) or `{{ outputs.ID }}`; they are filled in just before
    the task starts, in one pass, so text coming from inputs is never expanded again.
    """

    id: str = ""
    prompt: str = ""
    engine: str | None = None
    # Where the task moves when its engine refuses it for good (rate limit, overload, outage);
    # `engine: [a, b]` is `engine: a, fallbacks: [b]`. None: the run's, when the task names no engine.
    fallbacks: Fallbacks = Field(default_factory=list)
    inputs: dict[str, Any] = Field(default_factory=dict)
    files: list[str] = Field(default_factory=list)
    options: TaskOptions = Field(default_factory=TaskOptions)
    depends_on: list[str] = Field(default_factory=list)
    # Run in the task's worktree after its agent succeeded (isolation only), after the run's
    # `task_gates`; a failing one goes back to the agent (orchestration/task_gates.py).
    gates: list[GateInput] = Field(default_factory=list)
    # The files and globs the task may change, in a run with isolation; default: its `files`. For
    # a task that writes elsewhere than it reads (tests, pages) or creates a file.
    scope: list[str] = Field(default_factory=list)
    # A template of the library run as a task group, with its parameters (`files` are its globs).
    # Planning expands it into plain tasks (parallelai/task_forms.py), so no stored run has one;
    # excluded from dumps, stored and served tasks keep their shape.
    template: str | None = Field(default=None, exclude=True)
    params: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _engine_object_as_name(cls, data: Any) -> Any:
        # Stored as JSON, a task keeps the engine's name; the object's settings become its
        # `engine_options`, under those the task gives itself.
        data = engine_and_fallbacks(data)
        if not isinstance(data, dict) or not isinstance(data.get("engine"), EngineObject):
            return data
        chosen: EngineObject = data["engine"]
        given = {**data, "engine": chosen.spec}
        if chosen.settings:
            options = data.get("options")
            if isinstance(options, TaskOptions):
                options = options.model_dump(exclude_unset=True)
            if options is None or isinstance(options, dict):
                options = dict(options or {})
                options["engine_options"] = settings_under(chosen.settings, options.get("engine_options"))
            given["options"] = options
        return given

    @property
    def change_scope(self) -> list[str]:
        """What the task may change in a run with isolation: its `scope`, else its `files`."""
        return self.scope or self.files

    @field_validator("id")
    @classmethod
    def _id_is_a_name(cls, value: str) -> str:
        if value and not TASK_ID_PATTERN.match(value):
            raise ValueError(
                "a task id is 1-128 letters, digits, '_', '.', '-', starting with a letter or digit"
            )
        return value

    @model_validator(mode="after")
    def _has_work(self) -> Task:
        if self.template is None and "prompt" not in self.model_fields_set:
            raise ValueError(
                "a task needs a `prompt` (what the sub-agent should do) or a `template` "
                "(a template of the library, run as a group of tasks)"
            )
        if self.template is None and self.params:
            raise ValueError("`params` only applies with `template`; put values in `inputs`")
        return self


# More sub-agents at once than any machine or account holds is a typo, not a plan.
MAX_PARALLEL = 10_000
# A run's size, checked when it is submitted, whatever surface it came from (docs/security.md).
MAX_TASKS = 100_000
MAX_PROMPT_CHARS = 1_000_000  # a task's own prompt; its `files` are read when it starts
Parallelism = Annotated[int, Field(gt=0, le=MAX_PARALLEL)]


# The longest Retry-After waited out by default (ratelimits/ceiling.py says why there is one).
DEFAULT_MAX_RETRY_AFTER_S = 300.0


class RunLimits(_Strict):
    # Not capped here: runs stored before the cap must still load. New runs are checked where
    # they are asked for (`RunSettings`) and planned (`orchestration/spec_check.py`).
    max_parallel: Annotated[int, Field(gt=0)] = 8
    per_engine: dict[str, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)
    max_cost_usd: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    max_tokens: Annotated[int, Field(gt=0)] | None = None
    fail_fast: bool = False
    backoff_base_s: Annotated[float, Field(ge=0)] = 1.0  # first retry waits up to this, doubling after
    backoff_cap_s: Annotated[float, Field(ge=0)] = 60.0
    # The longest Retry-After waited out; a rate limit asking for longer fails its task (retry.py).
    max_retry_after_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = DEFAULT_MAX_RETRY_AFTER_S
    # Seconds a run may execute (from its start, or its resume): then nothing new starts, running
    # attempts and waiting retries are cancelled, and the run fails (scheduler.py).
    deadline_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None


GateState = Literal["passed", "failed", "skipped"]


class GateResult(BaseModel):
    """How one gate of a run went: its exit code and the end of what it printed."""

    name: str
    command: str
    state: GateState
    exit_code: int | None = None  # None when it did not run, or was stopped by its timeout
    duration_s: float = 0.0
    output: str = ""  # the last ~4 KB of its stdout and stderr, interleaved as printed
    reason: str | None = None  # why it failed without an exit code, or was skipped

    @property
    def passed(self) -> bool:
        return self.state == "passed"


BackendName = Literal["local", "ray"]
BACKEND_NAMES: tuple[BackendName, ...] = ("local", "ray")


class RayOptions(_Strict):
    """Where the `ray` backend finds its cluster, and which nodes may run which engine (docs/ray.md)."""

    address: str | None = Field(
        default=None,
        description="The Ray cluster's address (`auto`, `HOST:PORT`, `ray://HOST:10001`); default: "
        "$RAY_ADDRESS, else the cluster started on this machine with `ray start --head`.",
    )
    resources: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Per engine, the Ray resources a node must declare to run its agents, e.g. "
        "{claude-code: {claude: 1}} for nodes started with `--resources '{\"claude\": 1}'`.",
    )


class Backend(_Strict):
    """Where a run's attempts execute: `local` (this process) or `ray` (runner actors on a cluster).
    Written `ray`, `local`, or `{ray: {address: auto}}`."""

    name: BackendName = "local"
    ray: RayOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data.strip().lower()}
        if isinstance(data, dict) and "name" not in data and len(data) == 1:
            ((name, options),) = data.items()
            if name in BACKEND_NAMES:
                return {"name": name, **({name: options or {}} if name == "ray" else {})}
        return data

    @model_validator(mode="after")
    def _options_for_its_backend(self) -> Backend:
        if self.ray is not None and self.name != "ray":
            raise ValueError("`ray` options are for the ray backend (`backend: {ray: {...}}`)")
        return self


class RunSpec(_Strict):
    """A planned run: the DAG of tasks plus how to schedule it. This is what the store keeps."""

    name: str | None = None
    strategy: StrategyName = "parallel"  # an alias given is stored as the strategy's own name
    default_engine: str = "echo"
    fallbacks: Fallbacks = Field(default_factory=list)  # the default engine's, in order
    engine_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    limits: RunLimits = Field(default_factory=RunLimits)
    use_cache: bool = True
    workdir: str | None = None
    gates: list[Gate] = Field(default_factory=list)  # run in order once the tasks are done
    # Each task in its own git worktree, its change merged onto `parallelai/<run>` (docs/isolation.md).
    isolation: bool = False
    task_gates: list[Gate] = Field(default_factory=list)  # every task's, before its own `gates`
    # Where attempts execute (None: here); kept with the run, so `resume` uses it too.
    backend: Backend | None = None
    tasks: list[Task]

    @model_validator(mode="before")
    @classmethod
    def _engine_list(cls, data: Any) -> Any:
        return engine_and_fallbacks(data, "default_engine")

    @model_validator(mode="after")
    def _task_gates_need_worktrees(self) -> RunSpec:
        # A task's gate checks the task's change alone, which only its own worktree holds.
        if not self.isolation:
            gated = "task_gates" if self.task_gates else next((t.id for t in self.tasks if t.gates), None)
            if gated is not None:
                where = "the run's task_gates" if gated == "task_gates" else f"task {gated!r}'s gates"
                raise ValueError(
                    f"{where} run in each task's own worktree, so they need isolation: turn it on "
                    "(`isolation: true`, --isolate) or make them run gates (`gates`)"
                )
        return self

    @field_validator("tasks")
    @classmethod
    def _plain_tasks_only(cls, tasks: list[Task]) -> list[Task]:
        # A template task is a request for tasks, not one: planning expands it before a run exists.
        unplanned = next((task for task in tasks if task.template is not None), None)
        if unplanned is not None:
            raise ValueError(
                f"task {unplanned.id or unplanned.template!r} names template {unplanned.template!r}: "
                "plan it first (parallelai.planning.plan_request expands it into tasks)"
            )
        return tasks

    @field_validator("strategy", mode="before")
    @classmethod
    def _one_name_per_strategy(cls, value: Any) -> Any:
        return canonical_strategy(value) if isinstance(value, str) else value


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class TaskError(BaseModel):
    kind: ErrorKind
    message: str
    retry_after: float | None = None  # seconds, when the engine was told to wait


class TaskResult(BaseModel):
    text: str = ""
    structured: Any = None
    usage: Usage = Field(default_factory=Usage)
    duration_s: float = 0.0
    error: TaskError | None = None
    reused: bool = False  # taken from the cache of an earlier identical task
    session_id: str | None = None  # the agent's conversation, for engines that can resume one

    @property
    def ok(self) -> bool:
        return self.error is None


class Attempt(BaseModel):
    number: int
    engine: str | None = None  # `name[:model]` it ran on (None: recorded before failover existed)
    started_at: float
    finished_at: float | None = None
    state: TaskState = TaskState.RUNNING
    error: TaskError | None = None


class TaskRecord(BaseModel):
    """A task as the store knows it: its spec, where it stands, and what it produced."""

    run_id: str
    task: Task
    state: TaskState
    reason: str | None = None
    retry_at: float | None = None  # when a `retrying` task is ready again (epoch seconds)
    result: TaskResult | None = None
    attempts: list[Attempt] = Field(default_factory=list)


class RunSummary(BaseModel):
    id: str
    name: str | None
    strategy: StrategyName
    state: RunState
    created_at: float
    finished_at: float | None
    counts: dict[TaskState, int]
    usage: Usage
    reused: int = 0
    note: str | None = None  # why the run stopped early (budget, fail-fast), if it did
    executed_by: str | None = None  # the live process executing it now, e.g. "the daemon (pid 812)"
    gates: list[GateResult] = Field(default_factory=list)  # in the order the run declares them
    default_engine: str | None = None  # what its tasks that name no engine run on
    max_parallel: int | None = None  # its limit of tasks at once

    @property
    def failed_gates(self) -> list[GateResult]:
        return [gate for gate in self.gates if gate.state == "failed"]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

"""`RunRequest`: what a user asks to run, built the same way by every surface.

The command line, the HTTP API, the MCP tools, the language server and the Python API each turn
what they were given into one `RunRequest` — one source of work plus the run's settings — and
hand it to `planning.start_run`, which plans it exactly once. A concept has one name everywhere
(CLI flag, YAML key, JSON field, Python argument); docs/names.md has the table. Spellings used
before are still accepted for one release, with a warning naming the new one.
"""

from __future__ import annotations

import logging
import warnings
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from parallelai.errors import InputError
from parallelai.models import (
    Backend,
    EngineObject,
    EngineSpec,
    Fallbacks,
    GateInput,
    Parallelism,
    RunSpec,
    Task,
    canonical_strategy,
    engine_and_fallbacks,
    settings_under,
)

log = logging.getLogger("parallelai.request")
_Model = TypeVar("_Model", bound=BaseModel)


def _strategy_name(value: Any) -> Any:
    """An alias (`intelligent`) becomes its strategy's own name as soon as settings are read."""
    return canonical_strategy(value) if isinstance(value, str) else value


# Old spelling → the one name, for one release.
RENAMED = {
    "max_parallel": "parallel",
    "timeout_s": "timeout",
    "engine_settings": "engines",
}
SOURCES = ("prompts", "tasks", "tasks_file", "work", "template", "planned")


def accept_old_names(data: Any, where: str) -> Any:
    """`data` with old spellings renamed, each announced once as a DeprecationWarning and a log line."""
    if not isinstance(data, dict):
        return data
    renamed = dict(data)
    for old, new in RENAMED.items():
        if old in renamed:
            value = renamed.pop(old)
            if new in renamed:
                raise ValueError(f"give `{new}`, not both `{new}` and `{old}` (its old name)")
            renamed[new] = value
            warn_renamed(
                f"{where}: `{old}` is now called `{new}`; `{old}` is accepted until the next release"
            )
    return renamed


def engine_object_as_name(data: Any) -> Any:
    """Settings whose `engine` is an object (`ClaudeCode(model="sonnet")`) as if it were named:
    `engine` its `name[:model]`, its settings over that engine's entry of `engines`."""
    if not isinstance(data, dict) or not isinstance(data.get("engine"), EngineObject):
        return data
    chosen: EngineObject = data["engine"]
    given = {**data, "engine": chosen.spec}
    engines = data.get("engines") or {}
    name = EngineSpec.parse(chosen.spec).name
    # Anything but mappings is left as given, for validation to say what is wrong with it.
    if chosen.settings and isinstance(engines, dict) and isinstance(engines.get(name) or {}, dict):
        given["engines"] = {**engines, name: {**(engines.get(name) or {}), **chosen.settings}}
    return given


def warn_renamed(message: str) -> None:
    """Say that an old spelling was used: to Python callers as a warning, to servers' users in the log."""
    warnings.warn(message, DeprecationWarning, stacklevel=5)
    log.warning("%s", message)


GATES_ADAPTER: TypeAdapter[list[GateInput]] = TypeAdapter(list[GateInput])


class TaskInput(BaseModel):
    """One task given as an object, when a plain prompt string is not enough."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(description="What the sub-agent should do. May use {{ name }} for `inputs`.")
    id: str | None = Field(
        default=None,
        description="A short id (letters, digits, _ . -) so other tasks can depend on it; default t001, t002…",
    )
    engine: str | None = Field(
        default=None,
        description="Engine for this task only, `name[:model]`; default: the run's engine. A list "
        "[engine, fallback, …] is the engine and its `fallbacks`.",
    )
    fallbacks: Fallbacks = Field(
        default_factory=list,
        description="Engines this task moves to, in order, when its engine refuses it for good (a rate "
        "limit it cannot wait out, overload, an outage); default: the run's, when it names no engine.",
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
    timeout: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="Seconds before this task is stopped."
    )
    engine_options: dict[str, Any] = Field(
        default_factory=dict, description="Engine settings for this task only; they win over the run's."
    )
    output_schema: dict[str, Any] | None = Field(
        default=None, description="A JSON Schema the answer must match (asked again once if it does not)."
    )
    scope: list[str] = Field(
        default_factory=list,
        description="Files and globs this task may change (isolation), relative to the workdir; default: its "
        "`files`. A change to any other file fails the task.",
    )
    gates: list[GateInput] = Field(
        default_factory=list,
        description="Commands run in this task's worktree after its agent succeeded (isolation only), after "
        "the run's task_gates; a failing one goes back to the agent, twice at most, then fails the task.",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        data = engine_and_fallbacks(accept_old_names(data, "task"))
        if isinstance(data, dict) and isinstance(data.get("engine"), EngineObject):
            # The object's settings are this task's `engine_options`, under those it gives itself.
            chosen: EngineObject = data["engine"]
            engine_options = settings_under(chosen.settings, data.get("engine_options"))
            data = {**data, "engine": chosen.spec, "engine_options": engine_options}
        return data


class RunSettings(BaseModel):
    """How a run runs, whatever its work: the one set of names for limits, budgets and engines."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, description="A short name for the run.")
    engine: str | None = Field(
        default=None,
        description="Engine of tasks that name none, `name[:model]` (default: the config's, else the first "
        "real assistant installed and signed in here; `echo` is a dry run, only when named). A list "
        "[engine, fallback, …] is the engine and its `fallbacks`.",
    )
    fallbacks: Fallbacks = Field(
        default_factory=list,
        description="Engines a task moves to, in order, when the run's engine refuses it for good: a rate "
        "limit it cannot wait out, overload (529/503), an outage. Tasks naming their own engine have "
        "their own fallbacks.",
    )
    engine_options: dict[str, Any] = Field(
        default_factory=dict, description="Settings of the run's engine (`engine`), e.g. {model: ...}."
    )
    engines: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Settings per engine name, for runs that use several."
    )
    parallel: Parallelism | None = Field(default=None, description="Sub-agents working at once (default 8).")
    per_engine: dict[str, Parallelism] = Field(
        default_factory=dict, description="At most this many at once per engine."
    )
    strategy: Annotated[str | None, BeforeValidator(_strategy_name)] = Field(
        default=None,
        description="parallel, dag, batch, pipeline, mapreduce or adaptive (alias intelligent: concurrency "
        "learnt from the engines' refusals and the machine, up to `parallel`) (default: from the work).",
    )
    timeout: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="Per-task timeout, seconds."
    )
    retries: Annotated[int, Field(ge=0, strict=True)] | None = Field(
        default=None, description="Retries of retryable failures per task (default 2)."
    )
    max_cost_usd: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=None, description="Budget: no task starts once the run has spent this much."
    )
    max_tokens: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Budget: no task starts once the run has used this many tokens."
    )
    fail_fast: bool | None = Field(default=None, description="Stop everything at the first failed task.")
    backoff_base_s: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="First wait before a retry, doubling after (default 1 s)."
    )
    max_retry_after_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=None,
        description="The longest wait a provider's Retry-After is honoured for (default 300 s); a rate "
        "limit asking for longer fails its task as rate-limited, the wait asked in its error.",
    )
    backoff_cap_s: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="Longest wait before a retry (default 60 s)."
    )
    deadline_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Seconds the run may execute, waits included: then nothing new starts, running tasks "
        "are cancelled and the run fails (default: none; a resumed run gets it afresh).",
    )
    use_cache: bool = Field(default=True, description="Answer a task seen before from the cache.")
    workdir: str | None = Field(
        default=None, description="The workspace: files and the tasks file are relative to it."
    )
    max_tasks: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Refuse a template plan wider than this many tasks (default 1000)."
    )
    gates: list[GateInput] = Field(
        default_factory=list,
        description="Commands parallelai runs itself in the workdir once every task succeeded, e.g. "
        '"pytest -q" (or {command, name, timeout}); one that exits non-zero fails the run. Added to '
        "those the tasks file or template declares.",
    )
    task_gates: list[GateInput] = Field(
        default_factory=list,
        description="Commands parallelai runs in each task's worktree after its agent succeeded (isolation "
        "only), e.g. 'ruff check $PARALLELAI_TASK_FILES'; a failing one goes back to the agent, twice at "
        "most, then fails the task. Added to those the tasks file declares.",
    )
    isolation: bool | None = Field(
        default=None,
        description="Run each task in its own git worktree, never in your checkout; each change is "
        "checked against the task's `files`, and merged onto the branch `parallelai/<run>` for "
        "`parallelai diff` and `parallelai apply` (default off; the workdir must be in a git repository).",
    )
    backend: Backend | None = Field(
        default=None,
        description="Where attempts execute: `local` (default) or `ray` — runner actors on a Ray cluster, "
        'written `ray` or {ray: {address: auto}} (docs/ray.md; needs `pip install "parallelai[ray]"`).',
    )

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        return engine_object_as_name(engine_and_fallbacks(accept_old_names(data, "run settings")))

    @property
    def engine_or_default(self) -> str:
        """The engine named, else the first real one ready here (NoEngineError if none): never `echo` unasked."""
        if self.engine:
            return self.engine
        from parallelai.engines.choice import default_engine  # the registry loads only when it is needed

        return default_engine()

    def over(self, defaults: RunSettings) -> RunSettings:
        """These settings, with what they leave unset taken from `defaults` (a config's, say)."""
        given = self.model_dump(exclude_unset=True, exclude_none=True)
        under = defaults.model_dump(exclude_unset=True, exclude_none=True)
        if "engine" in given:
            under.pop("fallbacks", None)  # fallbacks go with the engine they back
        if given.get("backend") == {"name": "ray"} and under.get("backend", {}).get("name") == "ray":
            given.pop("backend")  # `--backend ray` over a config's `[ray]`: its address still applies
        return RunSettings.model_validate({**under, **given})

    def settings_per_engine(self) -> dict[str, dict[str, Any]]:
        """`engines`, with `engine_options` folded into the run engine's entry (they win)."""
        merged = {name: dict(value or {}) for name, value in self.engines.items()}
        if self.engine_options:
            name = self.engine_or_default.partition(":")[0]
            merged[name] = {**merged.get(name, {}), **self.engine_options}
        return merged

    def limits_given(self) -> dict[str, Any]:
        """The run limits these settings set, keyed as `RunLimits` names them."""
        given: dict[str, Any] = {
            "max_parallel": self.parallel,
            "max_cost_usd": self.max_cost_usd,
            "max_tokens": self.max_tokens,
            "fail_fast": self.fail_fast,
            "backoff_base_s": self.backoff_base_s,
            "backoff_cap_s": self.backoff_cap_s,
            "max_retry_after_s": self.max_retry_after_s,
            "deadline_s": self.deadline_s,
        }
        limits: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
        if self.per_engine:
            limits["per_engine"] = dict(self.per_engine)
        return limits


class RunRequest(RunSettings):
    """One source of work — exactly one of `prompts`, `tasks`, `tasks_file`, `work`, `template`
    (with `params`) or `planned` — plus the run's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompts: list[str] | None = Field(default=None, description="Independent prompts, one task each.")
    tasks: list[str | TaskInput | Task] | None = Field(
        default=None,
        description="Tasks as prompt strings or objects: flat (`timeout`, `engine_options` … beside "
        "`prompt`) or as a tasks file writes them (under `options`).",
    )
    tasks_file: str | None = Field(
        default=None,
        description="A tasks file (YAML or JSON); relative to `workdir`, else the current directory.",
    )
    work: dict[str, Any] | None = Field(
        default=None, description="A tasks file's content as data (`tasks:`, or `items:` for batch, …)."
    )
    template: str | None = Field(default=None, description="A template of the library, by name.")
    params: dict[str, Any] = Field(default_factory=dict, description="The template's parameters.")
    planned: RunSpec | None = Field(
        default=None, description="A run planned already; its own engine, limits and settings apply."
    )

    @model_validator(mode="after")
    def _one_source(self) -> RunRequest:
        given = [f"`{name}`" for name in SOURCES if getattr(self, name) is not None]
        if not given:
            raise ValueError(
                "nothing to run: give `prompts`, `tasks` (prompts or task objects), a `tasks_file`, "
                "a `template` (with `params`) or `work`"
            )
        if len(given) > 1:
            raise ValueError(f"give one source of work, not {' and '.join(given)}")
        if self.params and self.template is None:
            raise ValueError("`params` only applies with `template`; put values in each task's `inputs`")
        return self

    @property
    def settings(self) -> RunSettings:
        # Only what was given, so that `over` can tell a value set from a default.
        return RunSettings.model_validate(
            self.model_dump(include=set(RunSettings.model_fields), exclude_unset=True)
        )


def build_request(**fields: Any) -> RunRequest:
    """A RunRequest from a surface's fields (None means "not given"); InputError says what is wrong."""
    return _validated(RunRequest, fields)


def build_settings(**fields: Any) -> RunSettings:
    """RunSettings from a surface's fields (None means "not given"); InputError says what is wrong."""
    return _validated(RunSettings, fields)


def _validated(model: type[_Model], fields: dict[str, Any]) -> _Model:
    try:
        return model.model_validate({key: value for key, value in fields.items() if value is not None})
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        raise InputError(f"{where}: {message}" if where else message) from None

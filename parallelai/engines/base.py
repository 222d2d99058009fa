"""The engine protocol: what an adapter for one assistant must provide, and what it may emit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

from parallelai.models import TaskOptions, TaskResult, Usage

if TYPE_CHECKING:
    from parallelai.ratelimits.account import Account


@dataclass(frozen=True, slots=True)
class EngineRequest:
    """One attempt at one task, as an engine sees it: the prompt is already rendered."""

    task_id: str
    prompt: str
    model: str | None
    options: TaskOptions
    workdir: Path
    attempt: int = 1
    # The workdir is the task's own worktree (a run with isolation), its change checked and merged
    # by parallelai: an agent may edit there without asking, unless its settings say otherwise.
    isolated: bool = False
    # Dependency outputs and engine-specific follow-ups (e.g. a session to resume) travel here.
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Activity:
    """A tool call, a tool result or a note from the agent; `detail` is shown to people."""

    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Usage so far for this attempt (cumulative, not a delta)."""

    usage: Usage


@dataclass(frozen=True, slots=True)
class RateLimitSignal:
    retry_after_s: float | None


EngineEvent = TextDelta | Activity | UsageReport | RateLimitSignal
Emit = Callable[[EngineEvent], None]


class EngineStatus(BaseModel):
    name: str
    available: bool
    version: str | None = None
    detail: str = ""  # when unavailable: what is missing and how to fix it


@runtime_checkable
class Engine(Protocol):
    """An adapter for one assistant.

    `run` never raises for a failed agent: failures come back as `TaskResult.error`. It must
    stop everything it started (process trees, connections) when its scope is cancelled.

    An engine whose class sets `edits_files = False` only answers (an API engine: no tools), so in
    a run with isolation its answer is made into the edit (`edits_files()` below); one that does
    not say is taken to edit files in `request.workdir` itself.
    """

    name: str

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult: ...

    async def status(self) -> EngineStatus: ...

    async def aclose(self) -> None: ...


def rate_account(engine: Engine, request: EngineRequest) -> Account | None:
    """The provider account an engine's agent sends its own requests to (a CLI agent's), so that a
    429 any engine meets on that account holds this one's launches, and its rate-limit signals pause
    the others (docs/rate-limits.md); None for an engine that does not say (an API engine paces its
    requests itself)."""
    account_of = getattr(engine, "rate_account", None)
    return account_of(request) if account_of is not None else None


def edits_files(engine: Engine) -> bool:
    """Whether `engine` changes files itself (an agent's tools, a command) rather than only
    answering; True for an engine that does not say (a plugin's). Kept out of the protocol, so an
    engine written before it still is one."""
    return bool(getattr(engine, "edits_files", True))


def unwrapped(engine: Engine) -> Engine:
    """The engine that does the work inside any wrappers (one that checks answers against a schema,
    say): a wrapper says what it wraps as `inner`."""
    while (inner := getattr(engine, "inner", None)) is not None:
        engine = inner
    return engine


def rewrapped(engine: Engine, core: Engine) -> Engine:
    """`engine`'s wrappers, each made again by its `around`, around `core` instead of what they wrap
    now: a backend that runs the working engine elsewhere keeps the checks here."""
    around = getattr(engine, "around", None)
    inner = getattr(engine, "inner", None)
    if around is None or inner is None:
        return core
    wrapped: Engine = around(rewrapped(inner, core))
    return wrapped


def paces_requests(engine: Engine) -> bool:
    """Whether `engine` sends its provider's HTTP requests from this process, each paced at the
    account's rate gate (engines/_http/gating.py); such an engine has nothing to gain from running
    elsewhere, and its pacing is only shared while it runs where the gate is."""
    return bool(getattr(engine, "paces_requests", False))


@runtime_checkable
class ReadyCheck(Protocol):
    """An engine that can say cheaply whether it could run here: installed and signed in, found
    from PATH, the environment and its credential files only — no process started, no network,
    no model call. It is what picking a default engine asks (engines/choice.py); `status()`
    may add what costs more (the CLI's version, a server's answer)."""

    def ready(self) -> EngineStatus: ...


@runtime_checkable
class SourceIdentity(Protocol):
    """An engine that says where its answers come from, so a cached answer is reused only when
    it would come from the same place: the resolved model, the endpoint (a base URL from its
    settings or the environment), for a CLI agent the CLI's version. Never a secret in clear.

    Asked once per run and model (`answer_source`), never per task: a CLI's version may cost a
    process start."""

    async def source(self, model: str | None) -> Mapping[str, str]: ...


async def answer_source(engine: Engine, model: str | None) -> dict[str, str]:
    """Where `engine` answers `model` from: its name and model, and what the engine adds (an
    engine that says nothing more — echo, a plugin — is known by name and model)."""
    found = {"engine": engine.name, "model": model or ""}
    if isinstance(engine, SourceIdentity):
        found.update(await engine.source(model))
    return found


class EngineFactory(Protocol):
    """What the `parallelai.engines` entry point names: usually the engine class itself.

    It may declare `settings_model`, the pydantic model of its settings: then engine objects
    (`EngineChoice("name", **settings)`, engines/chosen.py) check their settings when they are made."""

    def __call__(self, settings: Mapping[str, Any]) -> Engine: ...

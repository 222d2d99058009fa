"""The runner on each Ray node: a long-lived async actor that runs attempts with the engines there.

An attempt arrives as an `Assignment` (how to make its engine, and the `EngineRequest`); the engine
is made with the same factory and settings as on the coordinator, so process-tree control, agent
tags, non-dumpable memory and redaction are as in a local run. `run` answers with the result and
what the engine emitted; an attempt that lasts is asked meanwhile (`events`, a long poll) for what
it emitted so far. Not Ray's streaming generators: a plain call costs the cluster a fraction of
their RPCs per attempt, which is what bounds a run of short attempts (bench case (k)). When the
coordinator cancels the call (a timeout, a cancel, its own end), Ray cancels it here and the
engine's call with it: the engine stops the process tree it started.

This module imports Ray only inside the actor's methods: the coordinator makes it an actor class.
"""

from __future__ import annotations

import asyncio
from contextlib import nullcontext
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import anyio

from parallelai.engines.agent_tags import tagging
from parallelai.engines.base import Engine, EngineEvent, EngineRequest
from parallelai.models import ErrorKind, TaskError, TaskResult
from parallelai.processes import make_non_dumpable


@dataclass(frozen=True, slots=True)
class Recipe:
    """How a node makes one run's engine: its factory (`module:attribute`, as the entry point names
    it) and the run's settings for it. Answers are checked against output schemas by the
    coordinator, around the remote engine, not here."""

    key: str  # one per run and engine: the node keeps the engine for the run's length
    name: str
    factory: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Assignment:
    recipe: Recipe
    request: EngineRequest
    tag: str | None  # the attempt's agent tag: every process its agent starts carries it


@dataclass(frozen=True, slots=True)
class Batch:
    """What an attempt emitted from its `first` event on (the ones before, the coordinator has)."""

    first: int
    events: list[EngineEvent]
    result: TaskResult | None = None  # set once: at the attempt's end


class _Live:
    """An attempt running here, and what its engine emitted from event `first` on (the ones before
    were handed over and acknowledged)."""

    __slots__ = ("done", "events", "first", "wake")

    def __init__(self) -> None:
        self.events: list[EngineEvent] = []
        self.first = 0
        self.wake = asyncio.Event()
        self.done = False

    def emit(self, event: EngineEvent) -> None:
        self.events.append(event)
        self.wake.set()

    def acknowledge(self, upto: int) -> None:
        if upto > self.first:
            del self.events[: upto - self.first]
            self.first = upto
        if not self.events:
            self.wake.clear()


class Runner:
    """Made an actor by the coordinator (`ray.remote(Runner)`), one per node, async, pinned there."""

    def __init__(self) -> None:
        make_non_dumpable()  # before any agent starts here, as `EngineRegistry.create` does locally
        self._engines: dict[str, Engine] = {}
        self._live: dict[str, _Live] = {}

    def node_id(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def running(self) -> int:
        """Attempts running here now (the tests look: a cancelled attempt must leave none)."""
        return len(self._live)

    async def release(self, key: str) -> None:
        """The run that made engine `key` has ended: close it here."""
        engine = self._engines.pop(key, None)
        if engine is not None:
            await engine.aclose()

    async def run(self, attempt_id: str, assignment: Assignment) -> Batch:
        """Run the attempt; its result, with what it emitted that `events` has not handed over.
        Cancelled (Ray cancels the call when the coordinator does), the engine unwinds and stops
        the process tree it started."""
        engine = self._engine(assignment.recipe)
        live = self._live[attempt_id] = _Live()
        try:
            with tagging(assignment.tag) if assignment.tag else nullcontext():
                try:
                    result = await engine.run(assignment.request, live.emit)
                except Exception as error:  # an engine bug is data, as in `call_engine`
                    message = f"{type(error).__name__}: {error}"
                    result = TaskResult(error=TaskError(kind=ErrorKind.INTERNAL, message=message))
        finally:
            del self._live[attempt_id]
            live.done = True
            live.wake.set()  # a waiting `events` call answers at once
        return Batch(live.first, live.events, result)

    async def events(self, attempt_id: str, after: int, wait_s: float) -> Batch | None:
        """What the attempt emitted from event `after` on (those before are acknowledged), waiting
        up to `wait_s` for something new; None once it has ended (the rest comes with its result)."""
        live = self._live.get(attempt_id)
        if live is None:
            return None
        live.acknowledge(after)
        if not live.events and not live.done:
            with anyio.move_on_after(wait_s):
                await live.wake.wait()
        return Batch(live.first, list(live.events))

    def _engine(self, recipe: Recipe) -> Engine:
        engine = self._engines.get(recipe.key)
        if engine is None:
            module_name, _, attribute = recipe.factory.partition(":")
            factory = getattr(import_module(module_name), attribute)
            engine = factory(recipe.settings)
            self._engines[recipe.key] = engine
        return engine

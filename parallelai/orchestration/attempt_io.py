"""An attempt's I/O: the cache consulted for its prompt, its record in the store, and its engine
called under its agent tag."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from parallelai.engines.agent_tags import tagging
from parallelai.engines.base import Activity, Engine, EngineEvent, EngineRequest, answer_source, edits_files
from parallelai.models import Attempt, RunSpec, TaskError, TaskResult, TaskState
from parallelai.orchestration.bus import EventBus
from parallelai.orchestration.cache import fingerprint
from parallelai.orchestration.engine_call import bus_event, call_engine
from parallelai.orchestration.outcome import attempt_state
from parallelai.orchestration.store import Store
from parallelai.orchestration.task_slots import TaskSlot

if TYPE_CHECKING:
    from parallelai.orchestration.isolation import RunIsolation


class AttemptIO:
    def __init__(
        self,
        run_id: str,
        spec: RunSpec,
        store: Store,
        bus: EventBus,
        *,
        engines: Mapping[str, Engine],
        workdir: Path,
        agent_tag: str,
        isolation: RunIsolation | None = None,
    ) -> None:
        self._run_id = run_id
        self._isolation = isolation  # set: each attempt runs in its task's worktree
        self._spec = spec
        self._store = store
        self._engines = engines
        self._workdir = workdir
        self._agent_tag = agent_tag  # the owner's and this run's: an attempt's tag continues it
        self._bus = bus
        self._sources: dict[str, Mapping[str, str]] = {}  # by engine spec: asked once per run
        self._asking = anyio.Lock()

    async def cached(self, slot: TaskSlot, prompt: str) -> tuple[str, TaskResult | None]:
        """The task's cache key and the result cached under it, if any."""
        settings = self._spec.engine_settings.get(slot.engine.name, {})
        source = await self._source(slot)
        args = (slot.task, prompt, str(slot.engine), settings, self._workdir, source)
        # Hashing input files reads them: off the event loop.
        key = await anyio.to_thread.run_sync(fingerprint, *args) if slot.task.files else fingerprint(*args)
        return key, await self._store.cached_result(key)

    async def _source(self, slot: TaskSlot) -> Mapping[str, str]:
        """Where the slot's engine answers from; the first wave of tasks asks the engine once."""
        spec = str(slot.engine)
        source = self._sources.get(spec)
        if source is None:
            async with self._asking:
                source = self._sources.get(spec)
                if source is None:
                    engine = self._engines[slot.engine.name]
                    source = self._sources[spec] = await answer_source(engine, slot.engine.model)
        return source

    def begin(self, slot: TaskSlot) -> None:
        """Open the task's next attempt, in the store too."""
        slot.attempts += 1
        slot.tries_here += 1
        slot.attempt = Attempt(number=slot.attempts, engine=str(slot.engine), started_at=time.time())
        self._store.record_attempt(self._run_id, slot.task.id, slot.attempt)

    async def call(self, slot: TaskSlot, prompt: str, outputs: Mapping[str, str]) -> TaskResult:
        """Run the attempt `begin` opened: the engine's answer, or the timeout or cancel that ended
        it, with the attempt closed accordingly; what the engine emits meanwhile goes on the bus."""
        task = slot.task
        engine = self._engines[slot.engine.name]
        # A fallback runs with the run's settings for it: the task's own were for its own engine.
        options = task.options.model_copy(update={"engine_options": {}}) if slot.moved else task.options

        async def call_in(workdir: Path, prompt: str) -> TaskResult:
            request = EngineRequest(
                task_id=task.id,
                prompt=prompt,
                model=slot.engine.model,
                options=options,
                workdir=workdir / options.workdir if options.workdir else workdir,
                attempt=slot.attempts,
                isolated=self._isolation is not None,
                context=outputs,
            )
            return await call_engine(engine, request, slot.stop, lambda event: self._relay(slot, event))

        with tagging(f"{self._agent_tag}/{task.id}/{slot.attempts}"):
            if self._isolation is None:
                result = await call_in(self._workdir, prompt)
            else:

                def rerun(failed: TaskResult, next_step: str) -> None:
                    # A re-run (a failed gate's, a conflict's) is an attempt of its own: this one
                    # failed, the next begins.
                    self._close(slot, attempt_state(failed), failed.error, time.time())
                    self.begin(slot)
                    self._relay(slot, Activity(kind="rerun", detail=_rerun_note(failed, next_step)))

                result = await self._isolation.attempt(
                    task, slot.engine.name, prompt, call_in, rerun, answer_is_edit=not edits_files(engine)
                )
        self._close(slot, attempt_state(result), result.error, time.time())
        return result

    def interrupt(self, slot: TaskSlot, now: float) -> None:
        """Close the attempt in flight, if any, as cut off (its process is stopping)."""
        if slot.attempt is not None:
            self._close(slot, TaskState.INTERRUPTED, None, now)

    def _close(self, slot: TaskSlot, state: TaskState, error: TaskError | None, now: float) -> None:
        attempt = slot.attempt
        assert attempt is not None
        slot.attempt = None
        attempt.finished_at = now
        attempt.state = state
        attempt.error = error
        self._store.record_attempt(self._run_id, slot.task.id, attempt)

    def _relay(self, slot: TaskSlot, event: EngineEvent) -> None:
        published = bus_event(self._run_id, slot.task.id, slot.engine.name, event)
        if published is not None:
            self._bus.publish(published)


def _rerun_note(failed: TaskResult, next_step: str) -> str:
    message = failed.error.message if failed.error is not None else "its change was refused"
    return f"{message.partition(chr(10))[0]}; {next_step}"

"""The scheduler: drives one run's DAG to the end under its limits.

Dispatch is synchronous and event-driven: whenever a task finishes, fails or its retry timer
fires, `_dispatch` starts as many ready tasks as the global and per-engine limits allow. No task
holds a slot while it waits to retry: it is `retrying`, not `running`, so what every surface shows
as running never exceeds the limit. Each attempt runs in its own cancel scope, so a timeout or a
cancel reaches the engine, which tears down whatever it started; every process the attempt's
agent starts carries the attempt's tag, so the whole tree can be found and stopped. When the run
is torn down (its process stops), attempts in flight are closed as `interrupted`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from parallelai.engines.agent_tags import tagging
from parallelai.engines.base import Engine, EngineEvent, EngineRequest
from parallelai.events import (
    BudgetReached,
    Event,
    RunFinished,
    RunStarted,
    TaskRetrying,
    TaskStateChanged,
)
from parallelai.models import (
    Attempt,
    EngineSpec,
    ErrorKind,
    RunSpec,
    RunState,
    Task,
    TaskResult,
    TaskState,
    Usage,
)
from parallelai.orchestration._gc import active_run
from parallelai.orchestration.admission import Admission
from parallelai.orchestration.budget import Budget
from parallelai.orchestration.bus import EventBus
from parallelai.orchestration.cache import fingerprint
from parallelai.orchestration.engine_call import StopHandle, bus_event, call_engine
from parallelai.orchestration.prompting import render_prompt
from parallelai.orchestration.retry import Backoff
from parallelai.orchestration.store import Store


@dataclass(slots=True)
class _Slot:
    """The scheduler's working state for one task."""

    task: Task
    engine: EngineSpec
    state: TaskState = TaskState.PENDING
    waiting_on: int = 0
    attempts: int = 0
    output: str = ""
    stop: StopHandle = field(default_factory=StopHandle)
    queued: bool = False  # waiting in a ready queue for a slot
    dependents: list[str] = field(default_factory=list)
    attempt: Attempt | None = None  # the attempt in flight


@dataclass(frozen=True, slots=True)
class Resumption:
    """What a resumed run already has: final states, outputs for dependents, attempts used; and
    the tasks to run again whatever their state (a retry's)."""

    states: Mapping[str, TaskState]
    outputs: Mapping[str, str]
    attempts: Mapping[str, int]
    spent: Usage
    reused: int
    again: frozenset[str] = frozenset()


class RunExecution:
    def __init__(
        self,
        run_id: str,
        spec: RunSpec,
        *,
        store: Store,
        bus: EventBus,
        engines: Mapping[str, Engine],
        workdir: Path,
        agent_tag: str,
        resumption: Resumption | None = None,
    ) -> None:
        self.run_id = run_id
        self._agent_tag = agent_tag  # the owner's and this run's: an attempt's tag continues it
        self._spec = spec
        self._limits = spec.limits
        self._store = store
        self._bus = bus
        self._engines = engines
        self._workdir = workdir
        self._backoff = Backoff(spec.limits.backoff_base_s, spec.limits.backoff_cap_s)
        self._rng = random.Random()
        self._slots: dict[str, _Slot] = {}
        engine_specs: dict[str, EngineSpec] = {}  # a plan names a few engines, each many times
        for task in spec.tasks:
            name = task.engine or spec.default_engine
            engine = engine_specs.get(name)
            if engine is None:
                engine = engine_specs[name] = EngineSpec.parse(name)
            self._slots[task.id] = _Slot(task, engine)
        for task in spec.tasks:
            for dependency in task.depends_on:
                self._slots[dependency].dependents.append(task.id)
        self._admission = Admission(spec.limits)
        self._unannounced: list[str] = []  # made ready since the last dispatch
        self._finished = 0
        self._done = anyio.Event()
        self._group: TaskGroup | None = None
        self._stopping: str | None = None  # why no new task may start (budget, fail-fast, cancel)
        self._stop_as = TaskState.SKIPPED  # what tasks that never started become once stopping
        self._cancelled = False
        self._torn_down = False  # the service is closing: the run stops where it is, to be resumed
        self._budget = Budget(spec.limits, resumption.spent if resumption else None)
        self._reused = resumption.reused if resumption else 0
        self._resumption = resumption

    # -- public ----------------------------------------------------------------------------

    async def execute(self) -> RunFinished:
        with active_run():
            return await self._execute()

    async def _execute(self) -> RunFinished:
        requeued = self._restore()
        self._store.set_run_state(self.run_id, RunState.RUNNING)
        self._publish(
            RunStarted(run_id=self.run_id, resumed=self._resumption is not None, requeued=len(requeued))
        )
        self._announce_restored(requeued)
        try:
            async with anyio.create_task_group() as group:
                self._group = group
                for task_id, slot in self._slots.items():
                    if slot.state is TaskState.PENDING and slot.waiting_on == 0:
                        self._make_ready(task_id)
                self._start_ready_tasks()
                # Let the tasks just started reach their engines before announcing the ones that
                # wait for a slot: with thousands queued, building those events would otherwise
                # hold back the first wave by tens of milliseconds.
                await anyio.lowlevel.checkpoint()
                self._dispatch()
                self._check_done()
                await self._done.wait()
        finally:
            with anyio.CancelScope(shield=True):
                finished = self._finish()
                await self._store.flush()
        return finished

    def has_task(self, task_id: str) -> bool:
        return task_id in self._slots

    def cancel(self, reason: str = "run cancelled") -> None:
        """Stop starting tasks, cancel the running ones; cancelled tasks can be resumed later."""
        self._cancelled = True
        self._stop(reason, TaskState.CANCELLED)
        self._cancel_running(reason)

    def cancel_task(self, task_id: str) -> bool:
        slot = self._slots.get(task_id)
        if slot is None or slot.state.is_final:
            return False
        if slot.stop.active:
            slot.stop.stop("cancelled by request")
        else:
            self._discard_ready(task_id)
            self._settle(task_id, TaskState.CANCELLED, "cancelled by request")
            self._skip_dependents(task_id)
            self._check_done()
        return True

    # -- setup -----------------------------------------------------------------------------

    def _restore(self) -> list[str]:
        """Apply a resumption: keep succeeded and failed tasks (unless run again), re-queue the
        rest; the re-queued tasks, for `_announce_restored`."""
        requeued = []
        resumption = self._resumption
        if resumption is not None:
            for task_id, slot in self._slots.items():
                previous = resumption.states.get(task_id, TaskState.PENDING)
                if previous in (TaskState.SUCCEEDED, TaskState.FAILED) and task_id not in resumption.again:
                    slot.state = previous
                    slot.output = resumption.outputs.get(task_id, "")
                    self._finished += 1
                else:
                    requeued.append(task_id)
                slot.attempts = resumption.attempts.get(task_id, 0)
        for slot in self._slots.values():
            if slot.state is TaskState.PENDING and slot.task.depends_on:
                slot.waiting_on = sum(
                    1 for dep in slot.task.depends_on if self._slots[dep].state is not TaskState.SUCCEEDED
                )
        return requeued

    def _announce_restored(self, requeued: list[str]) -> None:
        """Once the run has started again: re-queued tasks are pending again (in the store too),
        and dependents of tasks that failed before are skipped again, with the reason."""
        resumption = self._resumption
        if resumption is None:
            return
        for task_id in requeued:
            if resumption.states.get(task_id, TaskState.PENDING) is not TaskState.PENDING:
                self._set_state(task_id, self._slots[task_id], TaskState.PENDING)
        for task_id, slot in self._slots.items():
            if slot.state is TaskState.FAILED:
                self._skip_dependents(task_id)

    # -- dispatch --------------------------------------------------------------------------

    def _make_ready(self, task_id: str) -> None:
        slot = self._slots[task_id]
        if self._stopping is not None:
            self._settle(task_id, self._stop_as, self._stopping)
            return
        slot.state = TaskState.READY
        slot.queued = True
        self._unannounced.append(task_id)
        self._admission.enqueue(task_id, slot.engine.name)

    def _dispatch(self) -> None:
        self._start_ready_tasks()
        # `ready` is news only for a task that has to wait for a slot; one that started at once is
        # announced by its `running` event. That halves the events of a run that is not saturated.
        for task_id in self._unannounced:
            slot = self._slots[task_id]
            if slot.queued and slot.state is TaskState.READY:
                self._publish(
                    TaskStateChanged(
                        run_id=self.run_id, task_id=task_id, state=TaskState.READY, attempt=slot.attempts
                    )
                )
        self._unannounced.clear()

    def _start_ready_tasks(self) -> None:
        assert self._group is not None
        while (task_id := self._take_next()) is not None:
            self._group.start_soon(self._attempts_from, task_id, name=f"task {task_id}")

    def _take_next(self) -> str | None:
        """Claim a slot for the next ready task the limits allow."""
        if self._stopping is not None:
            return None
        task_id = self._admission.take()
        if task_id is not None:
            self._slots[task_id].queued = False
        return task_id

    def _discard_ready(self, task_id: str) -> None:
        slot = self._slots[task_id]
        self._admission.discard(task_id, slot.engine.name)
        slot.queued = False

    # -- one attempt -----------------------------------------------------------------------

    async def _attempts_from(self, task_id: str) -> None:
        """Run attempts one after another in this task while ready work remains.

        Carrying on with the next ready task here, instead of starting a new task for it, is
        what keeps the scheduler's cost per task small when thousands run back to back.
        """
        next_id: str | None = task_id
        while next_id is not None:
            slot = self._slots[next_id]
            try:
                await self._run_attempt(next_id, slot)
            except anyio.get_cancelled_exc_class():
                # Our own cancels (timeout, cancel) end inside `_call_engine`; this one is from outside.
                self._torn_down = True
                raise
            finally:
                self._admission.release(slot.engine.name)
            if self._done.is_set() or self._torn_down:
                return
            next_id = self._take_next()
            self._dispatch()
            self._check_done()

    async def _run_attempt(self, task_id: str, slot: _Slot) -> None:
        task = slot.task
        outputs = {dep: self._slots[dep].output for dep in task.depends_on}
        prompt = render_prompt(task, outputs)
        key: str | None = None
        cached: TaskResult | None = None
        if self._spec.use_cache:
            settings = self._spec.engine_settings.get(slot.engine.name, {})
            key = await self._fingerprint(task, prompt, slot.engine, settings)
            cached = await self._store.cached_result(key)
        # While the cache was consulted this task may have been cancelled, or the run stopped.
        if slot.state.is_final:
            return
        if cached is not None:
            self._reused += 1
            self._complete(task_id, cached.model_copy(update={"reused": True}), key)
            return
        if self._stopping is not None:
            self._settle(task_id, self._stop_as, self._stopping)
            return
        slot.attempts += 1
        attempt = slot.attempt = Attempt(number=slot.attempts, started_at=time.time())
        self._store.record_attempt(self.run_id, task_id, attempt)
        self._set_state(task_id, slot, TaskState.RUNNING)
        result = await self._call_engine(task_id, slot, prompt, outputs)
        slot.attempt = None
        attempt.finished_at = time.time()
        attempt.error = result.error
        attempt.state = TaskState.SUCCEEDED if result.ok else TaskState.FAILED
        if result.error is not None and result.error.kind is ErrorKind.CANCELLED:
            attempt.state = TaskState.CANCELLED
        self._store.record_attempt(self.run_id, task_id, attempt)
        self._account(task_id, result.usage)
        error = result.error
        if error is None:
            self._complete(task_id, result, key)
        elif error.kind is ErrorKind.CANCELLED:
            self._store.record_result(self.run_id, task_id, result, None)
            self._settle(task_id, TaskState.CANCELLED, error.message)
            self._skip_dependents(task_id)
        elif error.kind.retryable and slot.attempts <= task.options.retries and self._stopping is None:
            delay = self._backoff.delay(slot.attempts, error.retry_after, self._rng)
            retry_at = time.time() + delay
            reason = (
                f"attempt {slot.attempts} failed ({error.kind}: {error.message}); retrying in {delay:.1f}s"
            )
            self._set_state(task_id, slot, TaskState.RETRYING, reason, error.kind, retry_at)
            self._publish(
                TaskRetrying(
                    run_id=self.run_id,
                    task_id=task_id,
                    attempt=slot.attempts,
                    delay_s=delay,
                    error_kind=error.kind,
                    message=error.message,
                )
            )
            assert self._group is not None
            self._group.start_soon(self._retry_later, task_id, delay)
        else:
            self._store.record_result(self.run_id, task_id, result, None)
            self._settle(task_id, TaskState.FAILED, f"{error.kind}: {error.message}", error.kind)
            self._skip_dependents(task_id)
            if self._limits.fail_fast:
                self.cancel_others(f"fail-fast: task {task_id} failed")

    async def _call_engine(
        self, task_id: str, slot: _Slot, prompt: str, outputs: Mapping[str, str]
    ) -> TaskResult:
        task = slot.task
        request = EngineRequest(
            task_id=task_id,
            prompt=prompt,
            model=slot.engine.model,
            options=task.options,
            workdir=self._workdir / task.options.workdir if task.options.workdir else self._workdir,
            attempt=slot.attempts,
            context=outputs,
        )
        engine = self._engines[slot.engine.name]
        with tagging(f"{self._agent_tag}/{task_id}/{slot.attempts}"):
            return await call_engine(
                engine, request, slot.stop, lambda event: self._relay(task_id, slot, event)
            )

    def _relay(self, task_id: str, slot: _Slot, event: EngineEvent) -> None:
        bus = bus_event(self.run_id, task_id, slot.engine.name, event)
        if bus is not None:
            self._publish(bus)

    async def _retry_later(self, task_id: str, delay: float) -> None:
        slot = self._slots[task_id]
        with anyio.CancelScope() as scope:
            slot.stop.scope = scope
            await anyio.sleep(delay)
        slot.stop.scope = None
        if slot.state.is_final:
            return
        if scope.cancelled_caught:
            self._settle(task_id, TaskState.CANCELLED, slot.stop.reason or "cancelled by request")
            self._skip_dependents(task_id)
        else:
            self._make_ready(task_id)
            self._dispatch()
        self._check_done()

    async def _fingerprint(
        self, task: Task, prompt: str, engine: EngineSpec, settings: Mapping[str, object]
    ) -> str:
        if task.files:
            return await anyio.to_thread.run_sync(
                fingerprint, task, prompt, str(engine), settings, self._workdir
            )
        return fingerprint(task, prompt, str(engine), settings, self._workdir)

    # -- outcomes ----------------------------------------------------------------------------

    def _complete(self, task_id: str, result: TaskResult, key: str | None) -> None:
        slot = self._slots[task_id]
        slot.output = result.text
        self._store.record_result(self.run_id, task_id, result, key)
        self._settle(
            task_id, TaskState.SUCCEEDED, "reused from cache" if result.reused else None, reused=result.reused
        )
        for dependent in slot.dependents:
            child = self._slots[dependent]
            child.waiting_on -= 1
            if child.waiting_on == 0 and child.state is TaskState.PENDING:
                self._make_ready(dependent)

    def _settle(
        self,
        task_id: str,
        state: TaskState,
        reason: str | None = None,
        error_kind: ErrorKind | None = None,
        *,
        reused: bool = False,
    ) -> None:
        slot = self._slots[task_id]
        if slot.state.is_final:
            return
        self._finished += 1
        self._set_state(task_id, slot, state, reason, error_kind, reused=reused)

    def _set_state(
        self,
        task_id: str,
        slot: _Slot,
        state: TaskState,
        reason: str | None = None,
        error_kind: ErrorKind | None = None,
        retry_at: float | None = None,
        *,
        reused: bool = False,
    ) -> None:
        """A task's new state, in the store and on the bus."""
        slot.state = state
        self._store.set_task_state(self.run_id, task_id, state, reason, retry_at)
        self._publish(
            TaskStateChanged(
                run_id=self.run_id,
                task_id=task_id,
                state=state,
                attempt=slot.attempts,
                reason=reason,
                error_kind=error_kind,
                reused=reused,
                retry_at=retry_at,
            )
        )

    def _skip_dependents(self, task_id: str) -> None:
        pending = list(self._slots[task_id].dependents)
        while pending:
            dependent = pending.pop()
            slot = self._slots[dependent]
            if slot.state.is_final:
                continue
            self._discard_ready(dependent)
            self._settle(dependent, TaskState.SKIPPED, f"dependency {task_id} did not succeed")
            pending.extend(slot.dependents)

    def _account(self, task_id: str, usage: Usage) -> None:
        if not usage.total_tokens and not usage.cost_usd:
            return
        overrun = self._budget.add(usage)
        if overrun is None or self._stopping is not None:
            return
        self._publish(
            BudgetReached(
                run_id=self.run_id, limit=overrun.limit, spent=overrun.spent, maximum=overrun.maximum
            )
        )
        self._stop(overrun.reason, TaskState.SKIPPED)

    def cancel_others(self, reason: str) -> None:
        """Fail-fast: stop starting tasks and cancel the running ones."""
        self._stop(reason, TaskState.SKIPPED)
        self._cancel_running(reason)

    def _cancel_running(self, reason: str) -> None:
        for slot in self._slots.values():
            if slot.stop.active:
                slot.stop.stop(reason)

    def _stop(self, reason: str, state: TaskState) -> None:
        """No new task starts; every task not yet started ends in `state` with `reason`."""
        if self._stopping is None:
            self._stopping = reason
            self._stop_as = state
        for task_id in self._admission.drain():
            self._settle(task_id, state, reason)
        for task_id, slot in self._slots.items():
            if slot.state is TaskState.PENDING:
                self._settle(task_id, state, reason)
        self._check_done()

    def _check_done(self) -> None:
        if self._finished >= len(self._slots):
            self._done.set()

    def _close_interrupted(self) -> None:
        """The run stops unfinished: attempts in flight were cut off, and nothing waits for a slot."""
        now = time.time()
        for task_id, slot in self._slots.items():
            if slot.attempt is not None:
                slot.attempt.finished_at = now
                slot.attempt.state = TaskState.INTERRUPTED
                self._store.record_attempt(self.run_id, task_id, slot.attempt)
                slot.attempt = None
            new = slot.state.after_interruption
            if new is not slot.state:
                reason = "its process stopped mid-attempt" if new is TaskState.INTERRUPTED else None
                self._set_state(task_id, slot, new, reason)

    def _finish(self) -> RunFinished:
        if not self._cancelled and not self._done.is_set():
            self._close_interrupted()
        counts = dict.fromkeys(TaskState, 0)
        for slot in self._slots.values():
            counts[slot.state] += 1
        if self._cancelled:
            state = RunState.CANCELLED
        elif counts[TaskState.SUCCEEDED] == len(self._slots):
            state = RunState.SUCCEEDED
        elif self._done.is_set():
            state = RunState.FAILED
        else:
            state = RunState.INTERRUPTED
        self._store.set_run_state(self.run_id, state, self._stopping)
        event = RunFinished(
            run_id=self.run_id,
            state=state,
            counts=counts,
            usage=self._budget.spent,
            reused=self._reused,
            note=self._stopping,
        )
        self._publish(event)
        return event

    def _publish(self, event: Event) -> None:
        self._bus.publish(event)

"""The scheduler: drives one run's DAG to the end under its limits.

Dispatch is synchronous and event-driven: whenever a task finishes, fails or its retry timer
fires, `_dispatch` starts as many ready tasks as the global and per-engine limits allow. No task
holds a slot while it waits to retry: it is `retrying`, not `running`, so what every surface shows
as running never exceeds the limit. Each attempt runs in its own cancel scope, so a timeout or a
cancel reaches the engine, which tears down whatever it started; every process the attempt's
agent starts carries the attempt's tag, so the whole tree can be found and stopped. When the run
is torn down (its process stops), attempts in flight are closed as `interrupted`. When its
deadline (`limits.deadline_s`) runs out, it stops as if cancelled, but ends `failed`.

What an attempt's end means is decided apart, without I/O (`outcome`). Every change of a task's
state, that decision included, goes through `_apply`, which persists it, publishes it and
follows it through; only `ready`, which is never persisted, is announced by `_dispatch`.

Why one module over 400 lines: dispatch, an attempt's start and end, and the run's end (its gates
included) all read and change the one run's state (slots, queues, budget, gates) under one rule —
no await between a decision and its transition. The pieces that need none of that state are
apart already: `outcome`, `task_slots`, `admission`, `attempt_io`, `budget`, `gates`, and the
adaptive strategy's controller (`adaptive`), which this module only feeds and announces.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from parallelai.engines.base import Engine
from parallelai.errors import WorkspaceError
from parallelai.events import (
    BudgetReached,
    ConcurrencyChanged,
    Event,
    RunFinished,
    RunStarted,
    TaskStateChanged,
)
from parallelai.models import RunSpec, RunState, TaskResult, TaskState, Usage
from parallelai.orchestration._gc import active_run
from parallelai.orchestration.adaptive_run import AdaptiveRun, controller_for
from parallelai.orchestration.admission import Admission
from parallelai.orchestration.attempt_io import AttemptIO
from parallelai.orchestration.budget import Budget, Overrun
from parallelai.orchestration.bus import EventBus
from parallelai.orchestration.gates import RunGates
from parallelai.orchestration.isolation import RunIsolation
from parallelai.orchestration.outcome import (
    CANCELLED_BY_REQUEST,
    PENDING,
    REUSED,
    RUNNING,
    Decision,
    after_attempt,
    after_interruption,
    final_run_state,
)
from parallelai.orchestration.prompting import render_prompt
from parallelai.orchestration.retry import Backoff
from parallelai.orchestration.store import Store
from parallelai.orchestration.task_slots import Resumption, TaskSlot, build_slots, restore


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
        isolation: RunIsolation | None = None,
    ) -> None:
        self.run_id = run_id
        self._limits = spec.limits
        # A cached answer made no change in this run's worktrees: an isolated task always runs.
        self._use_cache = spec.use_cache and isolation is None
        self._isolation = isolation
        self._store = store
        self._bus = bus
        self._io = AttemptIO(
            run_id,
            spec,
            store,
            bus,
            engines=engines,
            workdir=workdir,
            agent_tag=agent_tag,
            isolation=isolation,
        )
        self._gates = RunGates(run_id, spec.gates, store=store, bus=bus, workdir=workdir, agent_tag=agent_tag)
        self._gates_done = not self._gates  # their results are in: the run may end
        limits = spec.limits
        self._backoff = Backoff(limits.backoff_base_s, limits.backoff_cap_s, limits.max_retry_after_s)
        self._rng = random.Random()
        self._slots = build_slots(spec)
        self._budget = Budget(spec.limits, resumption.spent if resumption else None)
        used = {engine.name for slot in self._slots.values() for engine in (slot.engine, *slot.fallbacks)}
        controller = controller_for(spec, used)
        self._admission = Admission(spec.limits, self._budget, controller)
        self._adaptive = AdaptiveRun(run_id, controller, self._admission) if controller is not None else None
        self._unannounced: list[str] = []  # made ready since the last dispatch
        self._finished = 0
        self._done = anyio.Event()
        self._group: TaskGroup | None = None
        self._stopped: Decision | None = None  # once no task may start: what the unstarted become
        self._cancelled = False
        self._torn_down = False  # the service is closing: the run stops where it is, to be resumed
        self._budget_stop: Overrun | None = None  # the limit that stopped the run
        self._deadline_hit = False  # `limits.deadline_s` ran out before the run ended
        self._reused = resumption.reused if resumption else 0
        self._resumption = resumption

    # -- public ----------------------------------------------------------------------------

    async def execute(self) -> RunFinished:
        with active_run():
            return await self._execute()

    async def _execute(self) -> RunFinished:
        requeued = restore(self._slots, self._resumption)
        self._finished = sum(1 for slot in self._slots.values() if slot.state.is_final)
        self._store.set_run_state(self.run_id, RunState.RUNNING)
        self._gates.forget()
        self._publish(
            RunStarted(run_id=self.run_id, resumed=self._resumption is not None, requeued=len(requeued))
        )
        self._announce_restored(requeued)
        for changed in self._adaptive.start() if self._adaptive is not None else ():
            self._publish(changed)
        try:
            async with anyio.create_task_group() as watch:
                deadline_s = self._limits.deadline_s
                if deadline_s is not None:
                    # From this start: a resumed run has its whole deadline again.
                    watch.start_soon(self._deadline_after, deadline_s, name="run deadline")
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
                await self._run_gates()
                watch.cancel_scope.cancel()  # ended in time
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
        self._gates.stop(reason)

    def cancel_task(self, task_id: str) -> bool:
        slot = self._slots.get(task_id)
        if slot is None or slot.state.is_final:
            return False
        if slot.stop.active:
            slot.stop.stop("cancelled by request")
        else:
            self._discard_ready(task_id)
            self._apply(task_id, slot, CANCELLED_BY_REQUEST)
            self._check_done()
        return True

    def cancel_others(self, reason: str) -> None:
        """Fail-fast: stop starting tasks and cancel the running ones."""
        self._stop(reason, TaskState.SKIPPED)
        self._cancel_running(reason)

    async def _deadline_after(self, deadline_s: float) -> None:
        await anyio.sleep(deadline_s)
        if self._done.is_set() and self._gates_done:
            return  # everything ended just in time
        reason = f"deadline of {deadline_s:g} s reached"
        self._deadline_hit = True
        # Tasks not started, running or waiting to retry are cancelled; gates running are stopped.
        self._stop(reason, TaskState.CANCELLED)
        self._cancel_running(reason)
        self._gates.stop(reason)

    def _announce_restored(self, requeued: list[str]) -> None:
        """Once the run has started again: re-queued tasks are pending again (in the store too),
        and dependents of tasks that failed before are skipped again, with the reason."""
        resumption = self._resumption
        if resumption is None:
            return
        for task_id in requeued:
            if resumption.states.get(task_id, TaskState.PENDING) is not TaskState.PENDING:
                self._apply(task_id, self._slots[task_id], PENDING)
        for task_id, slot in self._slots.items():
            if slot.state is TaskState.FAILED:
                self._skip_dependents(task_id)

    # -- dispatch --------------------------------------------------------------------------

    def _make_ready(self, task_id: str) -> None:
        slot = self._slots[task_id]
        if self._stopped is not None:
            self._apply(task_id, slot, self._stopped)
            return
        slot.state = TaskState.READY
        slot.queued = True
        self._unannounced.append(task_id)
        self._admission.enqueue(task_id, slot.engine.name)

    def _dispatch(self) -> None:
        self._start_ready_tasks()
        # `ready` is news only for a task that has to wait for a slot; one that started at once is
        # announced by its `running` event. That halves the events of a run that is not saturated.
        # (Nor is it persisted: a resumed run makes its tasks ready again.)
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
        if self._stopped is not None:
            return None
        task_id = self._admission.take()
        if task_id is not None:
            self._slots[task_id].queued = False
        elif self._admission.held_by_budget and self._admission.running_total == 0:
            # Nothing runs that could make room: the next task alone would pass the budget.
            overrun = self._budget.refusal()
            if overrun is not None:
                self._budget_reached(overrun)
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
            engine = slot.engine.name  # admitted on it; a failover after the attempt changes the slot's
            try:
                await self._run_attempt(next_id, slot)
            except anyio.get_cancelled_exc_class():
                # Our own cancels (timeout, cancel) end inside `AttemptIO.call`; this one is from outside.
                self._torn_down = True
                raise
            finally:
                self._admission.release(next_id, engine)
            if self._done.is_set() or self._torn_down:
                return
            next_id = self._take_next()
            self._dispatch()
            self._check_done()

    async def _run_attempt(self, task_id: str, slot: TaskSlot) -> None:
        task = slot.task
        outputs = {dep: self._slots[dep].output for dep in task.depends_on}
        prompt = render_prompt(task, outputs)
        key, cached = await self._io.cached(slot, prompt) if self._use_cache else (None, None)
        # While the cache was consulted this task may have been cancelled, or the run stopped.
        if slot.state.is_final:
            return
        if cached is not None:
            self._reused += 1
            self._apply(task_id, slot, REUSED, cached.model_copy(update={"reused": True}), key)
            return
        if self._stopped is not None:
            self._apply(task_id, slot, self._stopped)
            return
        self._io.begin(slot)
        self._apply(task_id, slot, RUNNING)
        adaptive = self._adaptive
        ticket = adaptive.begin(task_id, slot.engine.name) if adaptive is not None else None
        result = await self._io.call(slot, prompt, outputs)
        # Learnt before anything else happens, announced once the attempt's own end is.
        adapted = adaptive.end(ticket, result) if adaptive is not None and ticket is not None else None
        self._account(result.usage, slot.engine.name)
        decision = after_attempt(
            task,
            slot.attempts,
            result,
            stopping=self._stopped is not None,
            fail_fast=self._limits.fail_fast,
            backoff=self._backoff,
            rng=self._rng,
            now=time.time(),
            fallback=slot.fallback,
            tries_here=slot.tries_here,
        )
        self._apply(task_id, slot, decision, result, key)
        if adapted is not None:
            self._adapted(*adapted)

    async def _retry_later(self, task_id: str, delay: float) -> None:
        slot = self._slots[task_id]
        with anyio.CancelScope() as scope:
            slot.stop.scope = scope
            # Decided before the deadline, started after it: the wait ends with the run.
            await anyio.sleep(0 if self._deadline_hit else delay)
        slot.stop.scope = None
        if slot.state.is_final:
            return
        if scope.cancelled_caught:
            reason = slot.stop.reason or "cancelled by request"
            self._apply(task_id, slot, Decision(TaskState.CANCELLED, reason, skip_dependents=True))
        else:
            self._make_ready(task_id)
            self._dispatch()
        self._check_done()

    def _adapted(self, changed: ConcurrencyChanged | None, pause_s: float) -> None:
        """What the adaptive strategy learnt from an attempt's end: announced, and a paused engine
        woken when its pause is over."""
        if changed is not None:
            self._publish(changed)
        if pause_s > 0:
            assert self._group is not None
            self._group.start_soon(self._dispatch_after, pause_s)

    async def _dispatch_after(self, delay: float) -> None:
        """Once a paused engine may start again, its ready tasks need no other event to start."""
        with anyio.move_on_after(delay):
            await self._done.wait()
        if not self._done.is_set() and not self._torn_down:
            self._dispatch()

    # -- transitions -------------------------------------------------------------------------

    def _apply(
        self,
        task_id: str,
        slot: TaskSlot,
        decision: Decision,
        result: TaskResult | None = None,
        key: str | None = None,
    ) -> None:
        """The way a task changes state (but to `ready`): `decision` persisted, published and
        followed through.

        A final decision keeps the attempt's `result` (a success with its cache `key`, so an
        identical task can reuse it). A task that has ended stays as it ended.
        """
        state = decision.state
        if state.is_final:
            if result is not None:
                if state is TaskState.SUCCEEDED:
                    slot.output = result.text
                self._store.record_result(
                    self.run_id, task_id, result, key if state is TaskState.SUCCEEDED else None
                )
            if slot.state.is_final:
                return
            self._finished += 1
        slot.state = state
        self._store.set_task_state(self.run_id, task_id, state, decision.reason, decision.retry_at)
        for event in decision.events(self.run_id, task_id, slot.attempts, time.time()):
            self._publish(event)
        if decision.move_to is not None:
            slot.fail_over()
        if decision.retry is not None:
            assert self._group is not None
            self._group.start_soon(self._retry_later, task_id, decision.retry.delay_s)
        elif state is TaskState.SUCCEEDED:
            for dependent in slot.dependents:
                child = self._slots[dependent]
                child.waiting_on -= 1
                if child.waiting_on == 0 and child.state is TaskState.PENDING:
                    self._make_ready(dependent)
        elif decision.skip_dependents:
            self._skip_dependents(task_id)
        if decision.stop_run is not None:
            self.cancel_others(decision.stop_run)

    def _skip_dependents(self, task_id: str) -> None:
        skipped = Decision(TaskState.SKIPPED, f"dependency {task_id} did not succeed")
        pending = list(self._slots[task_id].dependents)
        while pending:
            dependent = pending.pop()
            slot = self._slots[dependent]
            if slot.state.is_final:
                continue
            self._discard_ready(dependent)
            self._apply(dependent, slot, skipped)
            pending.extend(slot.dependents)

    def _account(self, usage: Usage, engine: str) -> None:
        if not usage.total_tokens and not usage.cost_usd:
            return
        overrun = self._budget.add(usage, engine)
        if overrun is not None:
            self._budget_reached(overrun)

    def _budget_reached(self, overrun: Overrun) -> None:
        if self._stopped is not None:
            return
        self._budget_stop = overrun
        self._publish(
            BudgetReached(
                run_id=self.run_id, limit=overrun.limit, spent=overrun.spent, maximum=overrun.maximum
            )
        )
        self._stop(overrun.reason, TaskState.SKIPPED)

    def _cancel_running(self, reason: str) -> None:
        for slot in self._slots.values():
            if slot.stop.active:
                slot.stop.stop(reason)

    def _stop(self, reason: str, state: TaskState) -> None:
        """No new task starts; every task not yet started ends in `state` with `reason`."""
        stopped = Decision(state, reason)
        if self._stopped is None:
            self._stopped = stopped
        for task_id in self._admission.drain():
            self._apply(task_id, self._slots[task_id], stopped)
        for task_id, slot in self._slots.items():
            if slot.state is TaskState.PENDING:
                self._apply(task_id, slot, stopped)
        self._check_done()

    def _check_done(self) -> None:
        if self._finished >= len(self._slots):
            self._done.set()

    # -- the end ---------------------------------------------------------------------------

    async def _run_gates(self) -> None:
        """Once every task has ended: the gates, run if every task succeeded, else skipped."""
        if not self._gates:
            return
        if self._cancelled:
            self._gates.skip("the run was cancelled")
        elif any(slot.state is not TaskState.SUCCEEDED for slot in self._slots.values()):
            self._gates.skip("not every task succeeded")
        elif self._isolation is None:
            await self._gates.run()
        else:
            await self._gates_on_integration(self._isolation)
        self._gates_done = True

    async def _gates_on_integration(self, isolation: RunIsolation) -> None:
        """The gates in a checkout of the integration branch: the run's work is there, not in the workdir."""
        try:
            async with isolation.integration_checkout() as workdir:
                await self._gates.run(workdir)
        except WorkspaceError as error:
            self._gates.fail(f"no checkout of the integration branch to run it in: {error}")

    def _close_interrupted(self) -> None:
        """The run stops unfinished: attempts in flight were cut off, and nothing waits for a slot."""
        now = time.time()
        for task_id, slot in self._slots.items():
            self._io.interrupt(slot, now)
            decision = after_interruption(slot.state)
            if decision is not None:
                self._apply(task_id, slot, decision)

    def _finish(self) -> RunFinished:
        if not self._cancelled and not self._done.is_set():
            self._close_interrupted()
        counts = dict.fromkeys(TaskState, 0)
        for slot in self._slots.values():
            counts[slot.state] += 1
        gates = self._gates.results
        state = final_run_state(
            counts,
            cancelled=self._cancelled,
            done=self._done.is_set(),
            gates_done=self._gates_done,
            gate_failed=any(gate.state == "failed" for gate in gates),
        )
        if self._deadline_hit and state is RunState.SUCCEEDED:
            state = RunState.FAILED  # its gates were stopped by the deadline before they all passed
        note = self._stopped.reason if self._stopped is not None else None
        if self._budget_stop is not None:
            # Tasks in flight when the budget was reached were paid for too: say what was spent.
            note = self._budget.final(self._budget_stop)
        self._store.set_run_state(self.run_id, state, note)
        event = RunFinished(
            run_id=self.run_id,
            state=state,
            counts=counts,
            usage=self._budget.spent,
            reused=self._reused,
            note=note,
            gates=gates,
        )
        self._publish(event)
        return event

    def _publish(self, event: Event) -> None:
        self._bus.publish(event)


__all__ = ["Resumption", "RunExecution"]

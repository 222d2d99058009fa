"""The orchestration service: the one object every surface (CLI, API, MCP, LSP) calls.

It checks planned runs (spec_check.py), persists them before anything starts, executes them in
the background under one task group, and answers questions about them from the store, which it
may share with other processes (each executes only the runs it holds the lease of).

At about 450 lines it is over the project's ~400: it is the one face of the core, a class of
short methods that each hand over to the store, the bus, the scheduler or the leases; the
pieces with logic of their own already live in those modules, and splitting the face would
give surfaces two objects to hold instead of one.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Mapping, Sequence
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from parallelai.backends import on_backend
from parallelai.engines.base import Engine, EngineStatus
from parallelai.engines.registry import EngineRegistry, default_registry
from parallelai.errors import InputError, RunBusyError, RunNotFoundError, TaskNotFoundError, sole_exception
from parallelai.events import Event, RunCreated, RunFinished
from parallelai.models import RunSpec, RunState, RunSummary, TaskRecord, TaskState
from parallelai.orchestration.abandoned import close_abandoned, close_run, stop_agents
from parallelai.orchestration.bus import EventBus
from parallelai.orchestration.dag import with_dependents
from parallelai.orchestration.isolation import RunIsolation, prune_ended
from parallelai.orchestration.lease import Owner, Role
from parallelai.orchestration.output_schemas import enforcing_output_schemas
from parallelai.orchestration.scheduler import Resumption, RunExecution
from parallelai.orchestration.spec_check import engines_for, plan_spec
from parallelai.orchestration.store import RunRow, RunTotals, Store, TaskPage
from parallelai.paths import default_store_path

REQUEST_POLL_S = 0.5  # how soon an owner acts on a request left in the store by another process
SWEEPS_PER_POLL = 4  # every 2 s: runs whose process died are closed as interrupted
CANCEL_WAIT_S = 60.0  # how long `cancel` waits for another process to stop its run


@dataclass(slots=True)
class _ActiveRun:
    execution: RunExecution
    finished: anyio.Event
    outcome: RunFinished | None = None


class OrchestrationService:
    """Plans, persists and executes runs; many services (in many processes) may share one store.

    A service executes the runs it leases (see `lease.py`): those it submits, resumes or retries.
    A run another live process executes is followed through the store and steered with requests;
    a run whose process died is taken over: its agents stopped, its cut-off attempts closed.
    """

    def __init__(
        self, store: Store, bus: EventBus, registry: EngineRegistry, group: TaskGroup, owner: Owner
    ) -> None:
        self.store = store
        self.bus = bus
        self.registry = registry
        self.owner = owner
        self._group = group
        self._active: dict[str, _ActiveRun] = {}

    @classmethod
    @asynccontextmanager
    async def open(
        cls, store_path: Path | None = None, registry: EngineRegistry | None = None, *, role: Role = "local"
    ) -> AsyncIterator[OrchestrationService]:
        """Open the store and run the service; on exit, runs still going are left resumable.

        Every engine of `registry` (default: the installed engines) enforces its tasks' output
        schemas (orchestration/output_schemas.py), whatever surface the run came from.

        `role="daemon"` marks the runs it executes as the daemon's: a daemon resumes those at start.
        """
        owner = Owner.new(role)
        owner.open()
        try:
            async with Store.open(store_path or default_store_path()) as store:
                bus = EventBus(store, await store.last_seq())
                async with anyio.create_task_group() as group:
                    engines = enforcing_output_schemas(registry or default_registry())
                    service = cls(store, bus, engines, group, owner)
                    group.start_soon(bus.deliver, name="event delivery")
                    # Close what dead processes left; a daemon resumes its own runs later, once its
                    # surfaces listen (`resume_interrupted`).
                    await service._sweep(resume=False)
                    await prune_ended(store)  # worktrees of runs that ended, left by a crash
                    group.start_soon(
                        service._housekeeping, await store.last_request_id(), name="housekeeping"
                    )
                    try:
                        yield service
                    finally:
                        # Leaving mid-run is an interruption, not a cancellation: `resume` continues it.
                        group.cancel_scope.cancel()
                bus.close()
        except BaseExceptionGroup as group_error:
            raise sole_exception(group_error) from None
        finally:
            owner.close()

    # -- planning ----------------------------------------------------------------------------

    def plan(self, spec: RunSpec) -> RunSpec:
        """Validate a spec and fill in what it leaves implicit (task ids, workdir). Raises InputError."""
        return plan_spec(spec, self.registry)

    def _engines_for(self, spec: RunSpec) -> dict[str, Engine]:
        # The run's backend (docs/ray.md) decides where they run; the local one leaves them be.
        return on_backend(spec.backend, engines_for(spec, self.registry), spec.engine_settings)

    # -- runs --------------------------------------------------------------------------------

    async def submit(self, spec: RunSpec) -> str:
        """Plan, persist and start a run in the background; returns its id once it is durable."""
        spec = self.plan(spec)
        engines = self._engines_for(spec)
        run_id = _new_run_id()
        # Its base first: a repository that cannot give one refuses the run before it is stored.
        isolation = await RunIsolation.prepare(run_id, spec, self.store) if spec.isolation else None
        await self.store.create_run(run_id, spec, self.owner)
        if isolation is not None:
            isolation.record()
        self.bus.publish(
            RunCreated(run_id=run_id, name=spec.name, strategy=spec.strategy, task_count=len(spec.tasks))
        )
        self._start(run_id, spec, engines, None, isolation)
        return run_id

    async def run(self, spec: RunSpec) -> RunSummary:
        return await self.wait(await self.submit(spec))

    async def resume(self, run_id: str) -> str:
        """Continue a run that stopped before it finished (interrupted, or its process died):
        finished tasks stay as they are, everything else is queued again. A finished run is left
        as it is (`retry` re-runs its failed tasks). Raises RunBusyError if another live process
        executes it."""
        if run_id in self._active:
            return run_id
        row = await self._row(run_id)
        if row.state.is_final:
            return run_id
        previous = await self._take_over(row)
        await close_abandoned(self.store, self.bus, row.id, row.state, previous, announce=False)
        await self._start_from_store(run_id, ())
        return run_id

    async def retry(self, run_id: str, task_ids: Sequence[str] = ()) -> int:
        """Run failed, cancelled and skipped tasks again (all, or those named), with the tasks that
        depend on them; successes are kept. Returns how many tasks were queued again (0: nothing
        to retry, nothing changed). Raises RunBusyError while a live process executes the run."""
        if run_id in self._active:
            raise RunBusyError(run_id, self.owner.describe())
        row = await self._row(run_id)
        records = {record.task.id: record for record in await self.store.task_records(run_id)}
        chosen = _retryable(run_id, records, task_ids)
        if not chosen and row.state.is_final:
            return 0
        previous = await self._take_over(row)
        await close_abandoned(self.store, self.bus, row.id, row.state, previous, announce=False)
        again = with_dependents(
            chosen,
            [record.task for record in records.values()],
            lambda t: records[t].state is TaskState.SUCCEEDED,
        )
        await self._start_from_store(run_id, again)
        return len(again)

    async def _take_over(self, row: RunRow) -> Owner | None:
        """Lease the run to this service; returns the dead owner it had, if any (whose agents
        and cut-off attempts are the caller's to deal with). Raises RunBusyError while it lives."""
        previous = Owner.from_json(row.owner)
        if previous is not None and previous.alive():
            raise RunBusyError(row.id, previous.describe())
        if not await self.store.claim_run(row.id, self.owner, row.owner):
            # Another process took it between our read and our claim.
            now = Owner.from_json((await self._row(row.id)).owner)
            raise RunBusyError(row.id, now.describe() if now else "another process")
        return previous

    async def _start_from_store(self, run_id: str, again: Collection[str]) -> None:
        """Start executing a leased run from what the store holds; `again` are run as if new."""
        row = await self._row(run_id)
        records = await self.store.task_records(run_id)
        spec = row.spec.model_copy(update={"tasks": [record.task for record in records]})
        totals = await self.store.run_totals(run_id)
        resumption = Resumption(
            states={record.task.id: record.state for record in records},
            again=frozenset(again),
            outputs={
                r.task.id: r.result.text for r in records if r.result and r.state is TaskState.SUCCEEDED
            },
            attempts={record.task.id: len(record.attempts) for record in records},
            engines={
                record.task.id: _last_engine(record)
                for record in records
                if record.attempts and record.attempts[-1].engine
            },
            spent=totals.usage,
            reused=totals.reused,
        )
        try:
            engines = self._engines_for(spec)
            isolation = await RunIsolation.reopen(run_id, spec, self.store) if spec.isolation else None
        except BaseException:
            self.store.release_run(run_id, self.owner)
            raise
        self._start(run_id, spec, engines, resumption, isolation)

    async def recover_abandoned(self) -> list[str]:
        """Close the runs whose process died without finishing them: their agents are stopped,
        cut-off attempts closed, and the run left `interrupted` (a daemon resumes its own runs
        instead). Returns their ids."""
        return await self._sweep(resume=self.owner.role == "daemon")

    async def resume_interrupted(self) -> list[str]:
        """Resume the runs a daemon was executing when it stopped or died (the daemon calls this
        at start); runs of other processes that died stay `interrupted` for their user to resume."""
        return await self._sweep(resume=True)

    async def _sweep(self, *, resume: bool) -> list[str]:
        """Runs nobody executes any more: closed as interrupted, or (the daemon's own, when
        `resume`) continued here. Runs that another live process executes are left alone."""
        handled = []
        for lease in await self.store.leases():
            owner = Owner.from_json(lease.owner)
            ours = lease.executor == "daemon" and self.owner.role == "daemon"
            if lease.run_id in self._active or (owner is not None and owner.alive()):
                continue
            if lease.state is RunState.INTERRUPTED and owner is None and not (ours and resume):
                continue  # closed already, waiting for its user
            if ours and not resume:
                continue  # the daemon resumes it at start, after its surfaces are listening
            if not await self.store.claim_run(lease.run_id, self.owner, lease.owner, to_execute=ours):
                continue  # another process got to it first
            await close_abandoned(self.store, self.bus, lease.run_id, lease.state, owner, announce=not ours)
            if ours:
                await self._start_from_store(lease.run_id, ())
            else:
                self.store.release_run(lease.run_id, self.owner)
            handled.append(lease.run_id)
        await self.store.flush()
        return handled

    def _start(
        self,
        run_id: str,
        spec: RunSpec,
        engines: dict[str, Engine],
        resumption: Resumption | None,
        isolation: RunIsolation | None = None,
    ) -> None:
        execution = RunExecution(
            run_id,
            spec,
            store=self.store,
            bus=self.bus,
            engines=engines,
            workdir=Path(spec.workdir or os.getcwd()),
            agent_tag=f"{self.owner.tag}/{run_id}",
            resumption=resumption,
            isolation=isolation,
        )
        active = _ActiveRun(execution, anyio.Event())
        self._active[run_id] = active

        async def execute() -> None:
            async with AsyncExitStack() as stack:
                for engine in engines.values():
                    stack.push_async_callback(engine.aclose)
                try:
                    if isolation is not None:
                        await stack.enter_async_context(isolation.running())
                    active.outcome = await execution.execute()
                    if isolation is not None:
                        with anyio.CancelScope(shield=True):  # a closing service must not leave them
                            await isolation.end(active.outcome.state)
                finally:
                    # After everything the run wrote: the lease goes last.
                    self.store.release_run(run_id, self.owner)
                    del self._active[run_id]
                    active.finished.set()

        self._group.start_soon(execute, name=f"run {run_id}")

    async def _housekeeping(self, last_request: int) -> None:
        """Act on requests other processes left for our runs; now and then, close runs whose
        process died (so no surface shows them running forever)."""
        polls = 0
        while True:
            await anyio.sleep(REQUEST_POLL_S)
            for request in await self.store.requests_after(last_request):
                last_request = request.id
                active = self._active.get(request.run_id)
                if active is None:
                    continue
                if request.kind == "cancel":
                    active.execution.cancel(request.reason)
                elif request.task_id is not None:
                    active.execution.cancel_task(request.task_id)
            polls += 1
            if polls % SWEEPS_PER_POLL == 0:
                await self.recover_abandoned()

    async def wait(self, run_id: str) -> RunSummary:
        """The run's summary once it has finished or stopped, whoever executes it."""
        active = self._active.get(run_id)
        if active is not None:
            await active.finished.wait()
            return await self.summary(run_id)
        after = self.bus.last_seq
        summary = await self.summary(run_id)
        if summary.executed_by is None or summary.state not in (RunState.PENDING, RunState.RUNNING):
            return summary
        # Its `run.finished` (or, should its process die, the one our sweep publishes) is yet to come.
        async with aclosing(self.events(after, run_id)) as events:
            async for event in events:
                if isinstance(event, RunFinished):
                    break
        return await self.summary(run_id)

    async def cancel(self, run_id: str, reason: str = "run cancelled") -> RunSummary:
        """Cancel a run, whoever executes it: this service at once, another live process through a
        request (waiting, up to CANCEL_WAIT_S, until it has stopped), a dead one by taking over."""
        active = self._active.get(run_id)
        if active is not None:
            active.execution.cancel(reason)
            await active.finished.wait()
            return await self.summary(run_id)
        row = await self._row(run_id)
        if row.state.is_final:
            return await self.summary(run_id)
        owner = Owner.from_json(row.owner)
        if owner is not None and owner.alive():
            await self.store.add_request(run_id, None, "cancel", reason)
            with anyio.move_on_after(CANCEL_WAIT_S):
                while True:
                    row = await self._row(run_id)
                    owner = Owner.from_json(row.owner)
                    if row.state.is_final or owner is None or not owner.alive():
                        break
                    await anyio.sleep(REQUEST_POLL_S / 2)
            if row.state.is_final or (owner is not None and owner.alive()):
                return await self.summary(run_id)
        try:
            previous = await self._take_over(row)
        except RunBusyError:
            return await self.summary(run_id)  # someone else took it over; their run now
        if previous is not None:
            await stop_agents(previous, run_id)
        await close_run(self.store, self.bus, run_id, RunState.CANCELLED, reason)
        self.store.release_run(run_id, self.owner)
        return await self.summary(run_id)

    async def cancel_task(self, run_id: str, task_id: str) -> bool:
        """Cancel one task; False when nothing executes its run (there is nothing to stop)."""
        active = self._active.get(run_id)
        if active is not None:
            if not active.execution.has_task(task_id):
                raise TaskNotFoundError(run_id, task_id)
            return active.execution.cancel_task(task_id)
        row = await self._row(run_id)
        owner = Owner.from_json(row.owner)
        if row.state.is_final or owner is None or not owner.alive():
            return False
        if not await self.store.task_records(run_id, task_id):
            raise TaskNotFoundError(run_id, task_id)
        await self.store.add_request(run_id, task_id, "cancel_task", "cancelled by request")
        return True

    # -- questions ---------------------------------------------------------------------------

    async def summary(self, run_id: str) -> RunSummary:
        await self.store.flush()
        found = await self.store.run_with_totals(run_id)
        if found is None:
            raise RunNotFoundError(run_id)
        return self._summary(*found)

    async def spec(self, run_id: str) -> RunSpec:
        """The run as it was planned: its tasks, limits and (resolved) workdir."""
        return (await self._row(run_id)).spec

    async def list_runs(
        self, state: RunState | None = None, limit: int = 50, *, offset: int = 0, settled: bool = True
    ) -> list[RunSummary]:
        """The newest runs (after the `offset` newest) with their totals, in one read of the store.
        `settled=False` does not wait for the write queue first: under load that wait is most of
        the time, and a list polled again may trail the scheduler by one group commit (the HTTP
        API's list does so)."""
        if settled:
            await self.store.flush()
        listed = await self.store.list_runs_with_totals(state, limit, offset)
        return [self._summary(row, totals) for row, totals in listed]

    async def tasks(self, run_id: str) -> list[TaskRecord]:
        await self.store.flush()
        await self._row(run_id)
        return await self.store.task_records(run_id)

    async def task_page(
        self, run_id: str, changed_after: int | None = None, limit: int | None = None, offset: int = 0
    ) -> TaskPage:
        """`tasks`, only those changed after a cursor and/or one page of them (`Store.task_page`)."""
        await self.store.flush()
        await self._row(run_id)
        return await self.store.task_page(run_id, changed_after, limit, offset)

    async def task(self, run_id: str, task_id: str) -> TaskRecord:
        await self.store.flush()
        await self._row(run_id)
        records = await self.store.task_records(run_id, task_id)
        if not records:
            raise TaskNotFoundError(run_id, task_id)
        return records[0]

    def events(self, after_seq: int = 0, run_id: str | None = None) -> AsyncGenerator[Event, None]:
        """Replay then follow; close it (`contextlib.aclosing`) when you stop early."""
        return self.bus.stream(after_seq, run_id)

    async def engine_statuses(self) -> list[EngineStatus]:
        statuses: list[EngineStatus] = []
        for name in self.registry.names():
            try:
                engine = self.registry.create(name, {})
            except Exception as error:  # a plugin that cannot even start is reported, not fatal
                statuses.append(EngineStatus(name=name, available=False, detail=f"cannot load: {error}"))
                continue
            try:
                statuses.append(await engine.status())
            finally:
                await engine.aclose()
        return statuses

    def is_active(self, run_id: str) -> bool:
        """Executing in this service (`RunSummary.executed_by` tells whether any process executes it)."""
        return run_id in self._active

    def _summary(self, row: RunRow, totals: RunTotals) -> RunSummary:
        owner = Owner.from_json(row.owner)
        live = owner is not None and (row.id in self._active or owner.alive())
        return RunSummary(
            id=row.id,
            name=row.name,
            strategy=row.spec.strategy,
            state=row.state,
            created_at=row.created_at,
            finished_at=row.finished_at,
            counts=totals.counts,
            usage=totals.usage,
            reused=totals.reused,
            note=row.note,
            gates=totals.gates,
            executed_by=owner.describe() if owner is not None and live else None,
            default_engine=row.spec.default_engine,
            max_parallel=row.spec.limits.max_parallel,
        )

    async def _row(self, run_id: str) -> RunRow:
        row = await self.store.get_run(run_id)
        if row is None:
            raise RunNotFoundError(run_id)
        return row


def _retryable(run_id: str, records: Mapping[str, TaskRecord], task_ids: Sequence[str]) -> list[str]:
    """The tasks a retry runs again: those named, or every failed, cancelled and skipped one."""
    if not task_ids:
        return [task_id for task_id, record in records.items() if record.state in _RETRYABLE]
    for task_id in task_ids:
        record = records.get(task_id)
        if record is None:
            raise TaskNotFoundError(run_id, task_id)
        if record.state not in _RETRYABLE:
            raise InputError(
                f"task {task_id!r} of run {run_id!r} is {record.state}; only failed, cancelled or "
                "skipped tasks are retried"
            )
    return list(dict.fromkeys(task_ids))


_RETRYABLE = frozenset({TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED})


def _last_engine(record: TaskRecord) -> tuple[str, int]:
    """The engine a task's last attempt ran on, and how many attempts in a row ran there."""
    last = record.attempts[-1].engine or ""
    in_a_row = 0
    for attempt in reversed(record.attempts):
        if attempt.engine != last:
            break
        in_a_row += 1
    return last, in_a_row


def _new_run_id() -> str:
    """Sortable by creation time, unique without coordination: `r20261125-053412-7f3a`."""
    return time.strftime("r%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(2)

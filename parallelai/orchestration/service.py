"""The orchestration service: the one object every surface (CLI, API, MCP, LSP) calls.

It plans and validates runs, persists them before anything starts, executes them in the
background under one task group, and answers questions about them from the store.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import TaskGroup
from pydantic import ValidationError

from parallelai.engines.base import Engine, EngineStatus
from parallelai.engines.registry import EngineRegistry, default_registry
from parallelai.errors import InputError, RunNotFoundError, TaskNotFoundError, sole_exception
from parallelai.events import Event, RunCreated, RunFinished
from parallelai.models import EngineSpec, RunSpec, RunState, RunSummary, Task, TaskRecord, TaskState
from parallelai.orchestration.bus import EventBus
from parallelai.orchestration.dag import assign_ids, validate_graph
from parallelai.orchestration.scheduler import Resumption, RunExecution
from parallelai.orchestration.store import RunRow, RunTotals, Store
from parallelai.paths import default_store_path

OUTSIDE_CANCEL_POLL_S = 0.5


@dataclass(slots=True)
class _ActiveRun:
    execution: RunExecution
    finished: anyio.Event
    outcome: RunFinished | None = None


class OrchestrationService:
    def __init__(self, store: Store, bus: EventBus, registry: EngineRegistry, group: TaskGroup) -> None:
        self.store = store
        self.bus = bus
        self.registry = registry
        self._group = group
        self._active: dict[str, _ActiveRun] = {}

    @classmethod
    @asynccontextmanager
    async def open(
        cls, store_path: Path | None = None, registry: EngineRegistry | None = None
    ) -> AsyncIterator[OrchestrationService]:
        """Open the store and run the service; on exit, runs still going are left resumable."""
        try:
            async with Store.open(store_path or default_store_path()) as store:
                bus = EventBus(store, await store.last_seq())
                async with anyio.create_task_group() as group:
                    service = cls(store, bus, registry or default_registry(), group)
                    try:
                        yield service
                    finally:
                        # Leaving mid-run is an interruption, not a cancellation: `resume` continues it.
                        group.cancel_scope.cancel()
                bus.close()
        except BaseExceptionGroup as group_error:
            raise sole_exception(group_error) from None

    # -- planning ----------------------------------------------------------------------------

    def plan(self, spec: RunSpec) -> RunSpec:
        """Validate a spec and fill in what it leaves implicit (task ids, workdir). Raises InputError."""
        return plan_spec(spec, self.registry)

    def _engines_for(self, spec: RunSpec) -> dict[str, Engine]:
        names = _engine_names(spec.tasks, spec.default_engine)
        engines: dict[str, Engine] = {}
        for name in sorted(names):
            try:
                engines[name] = self.registry.create(name, spec.engine_settings.get(name, {}))
            except ValidationError as error:
                problem = error.errors()[0]
                where = ".".join(str(part) for part in problem["loc"]) or "settings"
                raise InputError(f"engine {name!r}: {where}: {problem['msg']}") from None
        return engines

    # -- runs --------------------------------------------------------------------------------

    async def submit(self, spec: RunSpec) -> str:
        """Plan, persist and start a run in the background; returns its id once it is durable."""
        spec = self.plan(spec)
        engines = self._engines_for(spec)
        run_id = _new_run_id()
        await self.store.create_run(run_id, spec)
        self.bus.publish(
            RunCreated(run_id=run_id, name=spec.name, strategy=spec.strategy, task_count=len(spec.tasks))
        )
        self._start(run_id, spec, engines, None)
        return run_id

    async def run(self, spec: RunSpec) -> RunSummary:
        return await self.wait(await self.submit(spec))

    async def resume(self, run_id: str) -> str:
        """Continue a run: finished tasks stay as they are, everything else is queued again."""
        if run_id in self._active:
            return run_id
        row = await self._row(run_id)
        if row.state is RunState.SUCCEEDED:
            return run_id
        records = await self.store.task_records(run_id)
        spec = row.spec.model_copy(update={"tasks": [record.task for record in records]})
        totals = await self.store.run_totals(run_id)
        resumption = Resumption(
            states={record.task.id: record.state for record in records},
            outputs={
                r.task.id: r.result.text for r in records if r.result and r.state is TaskState.SUCCEEDED
            },
            attempts={record.task.id: len(record.attempts) for record in records},
            spent=totals.usage,
            reused=totals.reused,
        )
        self._start(run_id, spec, self._engines_for(spec), resumption)
        return run_id

    async def resume_interrupted(self) -> list[str]:
        """Resume every run whose process stopped before it finished (used by the daemon at start)."""
        ids = await self.store.run_ids_in_state([RunState.RUNNING, RunState.INTERRUPTED, RunState.PENDING])
        return [await self.resume(run_id) for run_id in ids if run_id not in self._active]

    def _start(
        self, run_id: str, spec: RunSpec, engines: dict[str, Engine], resumption: Resumption | None
    ) -> None:
        execution = RunExecution(
            run_id,
            spec,
            store=self.store,
            bus=self.bus,
            engines=engines,
            workdir=Path(spec.workdir or os.getcwd()),
            resumption=resumption,
        )
        active = _ActiveRun(execution, anyio.Event())
        self._active[run_id] = active

        async def execute() -> None:
            async with AsyncExitStack() as stack:
                for engine in engines.values():
                    stack.push_async_callback(engine.aclose)
                try:
                    async with anyio.create_task_group() as watchers:
                        watchers.start_soon(self._watch_for_outside_cancel, run_id, execution)
                        active.outcome = await execution.execute()
                        watchers.cancel_scope.cancel()
                finally:
                    del self._active[run_id]
                    active.finished.set()

        self._group.start_soon(execute, name=f"run {run_id}")

    async def _watch_for_outside_cancel(self, run_id: str, execution: RunExecution) -> None:
        """`parallelai cancel` from another process marks the stored run; the owner notices here."""
        while True:
            await anyio.sleep(OUTSIDE_CANCEL_POLL_S)
            if await self.store.run_state(run_id) is RunState.CANCELLED:
                execution.cancel("run cancelled from another process")
                return

    async def wait(self, run_id: str) -> RunSummary:
        active = self._active.get(run_id)
        if active is not None:
            await active.finished.wait()
        return await self.summary(run_id)

    async def cancel(self, run_id: str) -> RunSummary:
        active = self._active.get(run_id)
        if active is not None:
            active.execution.cancel()
            await active.finished.wait()
        else:
            row = await self._row(run_id)
            if not row.state.is_final:
                for record in await self.store.task_records(run_id):
                    if not record.state.is_final:
                        self.store.set_task_state(
                            run_id, record.task.id, TaskState.CANCELLED, "run cancelled"
                        )
                self.store.set_run_state(run_id, RunState.CANCELLED, "run cancelled")
        return await self.summary(run_id)

    async def cancel_task(self, run_id: str, task_id: str) -> bool:
        active = self._active.get(run_id)
        if active is None:
            await self._row(run_id)
            return False
        if not active.execution.has_task(task_id):
            raise TaskNotFoundError(run_id, task_id)
        return active.execution.cancel_task(task_id)

    # -- questions ---------------------------------------------------------------------------

    async def summary(self, run_id: str) -> RunSummary:
        await self.store.flush()
        found = await self.store.run_with_totals(run_id)
        if found is None:
            raise RunNotFoundError(run_id)
        return _summary(*found)

    async def spec(self, run_id: str) -> RunSpec:
        """The run as it was planned: its tasks, limits and (resolved) workdir."""
        return (await self._row(run_id)).spec

    async def list_runs(self, state: RunState | None = None, limit: int = 50) -> list[RunSummary]:
        await self.store.flush()
        return [
            _summary(row, await self.store.run_totals(row.id))
            for row in await self.store.list_runs(state, limit)
        ]

    async def tasks(self, run_id: str) -> list[TaskRecord]:
        await self.store.flush()
        await self._row(run_id)
        return await self.store.task_records(run_id)

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
        return run_id in self._active

    async def _row(self, run_id: str) -> RunRow:
        row = await self.store.get_run(run_id)
        if row is None:
            raise RunNotFoundError(run_id)
        return row


def _summary(row: RunRow, totals: RunTotals) -> RunSummary:
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
    )


def plan_spec(spec: RunSpec, registry: EngineRegistry) -> RunSpec:
    """Validate a spec and fill in what it leaves implicit (task ids, workdir). Raises InputError."""
    workdir = Path(spec.workdir or os.getcwd()).resolve()
    tasks = assign_ids(spec.tasks)
    if not tasks:
        raise InputError("a run needs at least one task")
    validate_graph(tasks)
    registry.require(sorted(_engine_names(tasks, spec.default_engine)))
    for task in tasks:
        for name in task.files:
            path = (workdir / name).resolve()
            if not path.is_relative_to(workdir):
                raise InputError(f"task {task.id!r}: input file {name!r} is outside the workspace {workdir}")
            if not path.is_file():
                raise InputError(f"task {task.id!r}: input file {name!r} does not exist in {workdir}")
    return spec.model_copy(update={"tasks": tasks, "workdir": str(workdir)})


def _engine_names(tasks: Sequence[Task], default: str) -> set[str]:
    # Each distinct `name[:model]` is parsed once, not once per task.
    return {EngineSpec.parse(engine).name for engine in {task.engine or default for task in tasks}}


def _new_run_id() -> str:
    """Sortable by creation time, unique without coordination: `r20261125-053412-7f3a`."""
    return time.strftime("r%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(2)

"""The SQLite store: the source of truth for runs, tasks, attempts, results and events.

Durability model: WAL with synchronous=FULL, every write inside BEGIN IMMEDIATE. Writes are
queued without waiting and committed by one writer task in group commits (whatever queued while
the previous commit was running goes into the next), so the scheduler never waits on fsync and
a SIGKILL loses at most what was not yet committed — work that `resume` re-queues. Reads use a
second connection; both connections are only touched from worker threads, never the event loop.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel

from parallelai.errors import StoreError
from parallelai.events import EVENT_ADAPTER, Event
from parallelai.models import (
    Attempt,
    ErrorKind,
    RunSpec,
    RunState,
    Task,
    TaskError,
    TaskRecord,
    TaskResult,
    TaskState,
    Usage,
)
from parallelai.orchestration._commit import (
    APPEND_EVENT,
    INSERT_TASK,
    RECORD_ATTEMPT,
    RECORD_RESULT,
    SET_TASK_STATE,
    Write,
    commit,
)
from parallelai.orchestration._schema import connect_pair

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RunRow:
    id: str
    name: str | None
    strategy: str
    state: RunState
    spec: RunSpec
    created_at: float
    finished_at: float | None
    note: str | None


@dataclass(frozen=True, slots=True)
class RunTotals:
    counts: dict[TaskState, int]
    usage: Usage
    reused: int


class Store:
    """Open with `async with Store.open(path) as store:`; all methods are safe to call from tasks."""

    def __init__(self, path: Path, writer: sqlite3.Connection, reader: sqlite3.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = anyio.CapacityLimiter(1)
        self._read_lock = anyio.CapacityLimiter(1)
        self._pending: list[Write] = []
        self._queued = 0  # writes queued so far
        self._committed = 0  # writes durably committed so far
        self._wake = anyio.Event()
        self._progress = anyio.Event()
        self._failure: BaseException | None = None

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[Store]:
        writer, reader = await anyio.to_thread.run_sync(connect_pair, path)
        store = cls(path, writer, reader)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(store._write_loop)
                try:
                    yield store
                finally:
                    with anyio.CancelScope(shield=True):
                        await store.flush()
                    group.cancel_scope.cancel()
        finally:
            writer.close()
            reader.close()

    # -- writes ------------------------------------------------------------------------------

    def enqueue(self, sql: str, params: Sequence[Any]) -> None:
        """Queue one write for the next group commit; returns at once."""
        if self._failure is not None:
            raise StoreError(f"the store at {self.path} stopped accepting writes: {self._failure}")
        self._pending.append((sql, params))
        self._queued += 1
        if len(self._pending) == 1:  # the first of a batch wakes the writer; it takes them all
            self._wake.set()

    def enqueue_all(self, writes: Sequence[Write]) -> None:
        """Queue many writes at once, in order (10,000 task rows in one call, not 10,000)."""
        if self._failure is not None:
            raise StoreError(f"the store at {self.path} stopped accepting writes: {self._failure}")
        self._pending.extend(writes)
        self._queued += len(writes)
        self._wake.set()

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        target = self._queued
        while self._committed < target:
            if self._failure is not None:
                raise StoreError(f"cannot write to the store at {self.path}: {self._failure}")
            progress = self._progress
            await progress.wait()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                await anyio.to_thread.run_sync(commit, self._writer, batch, limiter=self._write_lock)
            except sqlite3.Error as error:
                self._failure = error
            else:
                self._committed += len(batch)
            progress, self._progress = self._progress, anyio.Event()
            progress.set()

    async def write_now(self, writes: Iterable[Write]) -> None:
        """Queue `writes` and wait for their commit (for things that must be durable first)."""
        self.enqueue_all(list(writes))
        await self.flush()

    # -- runs and tasks ----------------------------------------------------------------------

    async def create_run(self, run_id: str, spec: RunSpec) -> None:
        now = time.time()
        writes: list[Write] = [
            (
                "INSERT INTO runs (id, name, strategy, state, spec, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, spec.name, spec.strategy, RunState.PENDING, _spec_json(spec), now),
            )
        ]
        pending = TaskState.PENDING
        writes.extend(
            (INSERT_TASK, (run_id, task.id, position, _json(task, exclude_unset=True), pending, now))
            for position, task in enumerate(spec.tasks)
        )
        await self.write_now(writes)

    def set_run_state(self, run_id: str, state: RunState, note: str | None = None) -> None:
        finished = time.time() if state.is_final else None
        self.enqueue(
            "UPDATE runs SET state = ?, finished_at = ?, note = COALESCE(?, note) WHERE id = ?",
            (state, finished, note, run_id),
        )

    def set_task_state(self, run_id: str, task_id: str, state: TaskState, reason: str | None = None) -> None:
        self.enqueue(SET_TASK_STATE, (state, reason, time.time(), run_id, task_id))

    def record_attempt(self, run_id: str, task_id: str, attempt: Attempt) -> None:
        error = attempt.error
        self.enqueue(
            RECORD_ATTEMPT,
            (
                run_id,
                task_id,
                attempt.number,
                attempt.started_at,
                attempt.finished_at,
                attempt.state,
                error.kind if error else None,
                error.message if error else None,
            ),
        )

    def record_result(self, run_id: str, task_id: str, result: TaskResult, fingerprint: str | None) -> None:
        usage = result.usage
        self.enqueue(
            RECORD_RESULT,
            (
                run_id,
                task_id,
                fingerprint,
                _json(result),
                result.ok,
                result.reused,
                usage.input_tokens,
                usage.output_tokens,
                usage.cost_usd,
            ),
        )

    def append_event(self, event: Event) -> None:
        self.enqueue(APPEND_EVENT, (event.seq, event.run_id, event.type, _json(event)))

    # -- reads -------------------------------------------------------------------------------

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(query, self._reader, limiter=self._read_lock)

    async def get_run(self, run_id: str) -> RunRow | None:
        row = await self._read(lambda db: db.execute(_SELECT_RUN, (run_id,)).fetchone())
        return _run_row(row) if row else None

    async def run_with_totals(self, run_id: str) -> tuple[RunRow, RunTotals] | None:
        """`get_run` and `run_totals` in one trip to the reader thread (a summary needs both)."""

        def query(db: sqlite3.Connection) -> tuple[tuple[Any, ...], RunTotals] | None:
            row = db.execute(_SELECT_RUN, (run_id,)).fetchone()
            return (row, _totals(db, run_id)) if row else None

        found = await self._read(query)
        return (_run_row(found[0]), found[1]) if found else None

    async def run_state(self, run_id: str) -> RunState | None:
        """Just the state of a run: cheaper than `get_run`, which parses the whole spec."""
        row = await self._read(
            lambda db: db.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()
        )
        return RunState(row[0]) if row else None

    async def list_runs(self, state: RunState | None = None, limit: int = 50) -> list[RunRow]:
        where, params = ("WHERE state = ?", (state, limit)) if state else ("", (limit,))
        rows = await self._read(
            lambda db: db.execute(
                "SELECT id, name, strategy, state, spec, created_at, finished_at, note FROM runs "
                f"{where} ORDER BY created_at DESC LIMIT ?",
                params,
            ).fetchall()
        )
        return [_run_row(row) for row in rows]

    async def run_ids_in_state(self, states: Sequence[RunState]) -> list[str]:
        marks = ",".join("?" * len(states))
        rows = await self._read(
            lambda db: db.execute(f"SELECT id FROM runs WHERE state IN ({marks})", tuple(states)).fetchall()
        )
        return [row[0] for row in rows]

    async def run_totals(self, run_id: str) -> RunTotals:
        return await self._read(lambda db: _totals(db, run_id))

    async def task_records(self, run_id: str, task_id: str | None = None) -> list[TaskRecord]:
        """Tasks of a run in plan order, with results and attempts (one task when `task_id` is given)."""

        def query(db: sqlite3.Connection) -> list[TaskRecord]:
            only = " AND t.id = ?" if task_id else ""
            params: tuple[str, ...] = (run_id, task_id) if task_id else (run_id,)
            rows = db.execute(
                "SELECT t.id, t.spec, t.state, t.reason, r.body FROM tasks t LEFT JOIN results r "
                f"ON r.run_id = t.run_id AND r.task_id = t.id WHERE t.run_id = ?{only} ORDER BY t.position",
                params,
            ).fetchall()
            attempts: dict[str, list[Attempt]] = {}
            for row in db.execute(
                "SELECT task_id, number, started_at, finished_at, state, error_kind, error_message "
                f"FROM attempts WHERE run_id = ?{only.replace('t.id', 'task_id')} ORDER BY task_id, number",
                params,
            ):
                error = TaskError(kind=ErrorKind(row[5]), message=row[6] or "") if row[5] else None
                attempts.setdefault(row[0], []).append(
                    Attempt(
                        number=row[1],
                        started_at=row[2],
                        finished_at=row[3],
                        state=TaskState(row[4]),
                        error=error,
                    )
                )
            return [
                TaskRecord(
                    run_id=run_id,
                    task=Task.model_validate_json(spec),
                    state=TaskState(state),
                    reason=reason,
                    result=TaskResult.model_validate_json(body) if body else None,
                    attempts=attempts.get(tid, []),
                )
                for tid, spec, state, reason, body in rows
            ]

        return await self._read(query)

    async def cached_result(self, fingerprint: str) -> TaskResult | None:
        row = await self._read(
            lambda db: db.execute(
                "SELECT body FROM results WHERE fingerprint = ? AND ok = 1 LIMIT 1", (fingerprint,)
            ).fetchone()
        )
        return TaskResult.model_validate_json(row[0]) if row else None

    async def events_after(self, seq: int, run_id: str | None = None, limit: int = 5000) -> list[Event]:
        def query(db: sqlite3.Connection) -> list[str]:
            if run_id is None:
                cursor = db.execute(
                    "SELECT body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
                )
            else:
                cursor = db.execute(
                    "SELECT body FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (run_id, seq, limit),
                )
            return [row[0] for row in cursor]

        return [EVENT_ADAPTER.validate_json(body) for body in await self._read(query)]

    async def last_seq(self) -> int:
        row = await self._read(lambda db: db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone())
        return int(row[0])


_SELECT_RUN = "SELECT id, name, strategy, state, spec, created_at, finished_at, note FROM runs WHERE id = ?"


def _totals(db: sqlite3.Connection, run_id: str) -> RunTotals:
    counts = dict.fromkeys(TaskState, 0)
    for state, count in db.execute(
        "SELECT state, COUNT(*) FROM tasks WHERE run_id = ? GROUP BY state", (run_id,)
    ):
        counts[TaskState(state)] = count
    # A reused result keeps what it cost when it was made; this run spent nothing on it.
    sums = db.execute(
        "SELECT COALESCE(SUM(input_tokens * (1 - reused)), 0), COALESCE(SUM(output_tokens * (1 - reused)), 0), "
        "COALESCE(SUM(cost_usd * (1 - reused)), 0), COALESCE(SUM(reused), 0) FROM results WHERE run_id = ?",
        (run_id,),
    ).fetchone()
    usage = Usage(input_tokens=sums[0], output_tokens=sums[1], cost_usd=sums[2])
    return RunTotals(counts=counts, usage=usage, reused=sums[3])


def _json(model: BaseModel, *, exclude_unset: bool = False) -> str:
    """`model.model_dump_json()` without its keyword handling: ~0.8 us less, for every event."""
    return model.__pydantic_serializer__.to_json(model, exclude_unset=exclude_unset).decode()


def _spec_json(spec: RunSpec) -> str:
    # Tasks live in their own rows; the run keeps the rest of its spec.
    return spec.model_dump_json(exclude={"tasks"})


def _run_row(row: tuple[Any, ...]) -> RunRow:
    spec = RunSpec.model_validate({**json.loads(row[4]), "tasks": []})
    return RunRow(
        id=row[0],
        name=row[1],
        strategy=row[2],
        state=RunState(row[3]),
        spec=spec,
        created_at=row[5],
        finished_at=row[6],
        note=row[7],
    )


__all__ = ["RunRow", "RunTotals", "Store"]

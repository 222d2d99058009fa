"""The SQLite store: the source of truth for runs, tasks, attempts, results and events.

Durability model: WAL with synchronous=FULL, every write inside BEGIN IMMEDIATE. Writes are
queued without waiting and committed by one writer task in group commits (whatever queued while
the previous commit was running goes into the next), so the scheduler never waits on fsync and
a SIGKILL loses at most what was not yet committed — work that `resume` re-queues. Reads use a
second connection; both connections are only touched from worker threads, never the event loop.

Many processes may use one store at once: each commit numbers its events after the highest
stored (see `_commit`), a run's lease is taken by compare-and-swap (`claim_run`), and requests
for a run (cancel it, cancel one task) wait in the store for whichever process owns the run.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel

from parallelai.errors import StoreError
from parallelai.events import Event
from parallelai.models import (
    Attempt,
    GateResult,
    RunSpec,
    RunState,
    TaskRecord,
    TaskResult,
    TaskState,
)
from parallelai.orchestration import _isolation_rows as isolation_rows
from parallelai.orchestration import _queries as queries
from parallelai.orchestration._commit import (
    APPEND_EVENT,
    INSERT_TASK,
    RECORD_ATTEMPT,
    RECORD_RESULT,
    SET_TASK_STATE,
    Write,
    commit,
)
from parallelai.orchestration._isolation_rows import ChangeOutcome, IsolatedRun, StoredChange
from parallelai.orchestration._queries import Lease, Request, RequestKind, RunRow, RunTotals, TaskPage
from parallelai.orchestration._schema import connect_pair
from parallelai.orchestration.lease import Owner
from parallelai.workspaces.changes import TaskChange

T = TypeVar("T")


class Store:
    """Open with `async with Store.open(path) as store:`; all methods are safe to call from tasks."""

    def __init__(
        self,
        path: Path,
        writer: sqlite3.Connection,
        reader: sqlite3.Connection,
        event_reader: sqlite3.Connection | None = None,
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = anyio.CapacityLimiter(1)
        self._read_lock = anyio.CapacityLimiter(1)
        # Event replays read thousands of rows for every client that connects; on a connection of
        # their own they never make the short questions (a run, the list) wait behind them.
        self._event_reader = event_reader or reader
        self._event_read_lock = anyio.CapacityLimiter(1) if event_reader is not None else self._read_lock
        self._pending: list[Write] = []
        # The events among `_pending`: how many, and those kept for the listener, by their place.
        self._pending_event_count = 0
        self._pending_events: list[tuple[int, Event]] = []
        self._on_commit: Callable[[int, list[Event]], None] | None = None
        # Whether the listener wants the committed events themselves, not just how far they go:
        # only while someone listens, so a run nobody follows keeps no event past its publishing.
        self.keep_events = False
        self._queued = 0  # writes queued so far
        self._committed = 0  # writes durably committed so far
        self._wake = anyio.Event()
        self._progress = anyio.Event()
        self._failure: BaseException | None = None

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[Store]:
        writer, reader = await anyio.to_thread.run_sync(connect_pair, path)
        try:
            event_reader = await anyio.to_thread.run_sync(connect_reader, path)
        except BaseException:
            writer.close()
            reader.close()
            raise
        store = cls(path, writer, reader, event_reader)
        try:
            async with anyio.create_task_group() as group:
                # Shielded: a cancel from outside (SIGTERM, a caller's deadline) cancels everything
                # around the store at once, and what is still being written must get written.
                writing = anyio.CancelScope(shield=True)
                group.start_soon(store._write_loop, writing)
                try:
                    yield store
                finally:
                    with anyio.CancelScope(shield=True):
                        await store.flush()
                    writing.cancel()
        finally:
            writer.close()
            reader.close()
            event_reader.close()

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

    @property
    def pending_events(self) -> int:
        """Published events held in memory until their commit hands them on (0 once flushed)."""
        return len(self._pending_events)

    def on_commit(self, listener: Callable[[int, list[Event]], None]) -> None:
        """After each commit with events, call `listener` with the newest seq it gave and, while
        `keep_events` is set, the events themselves, numbered (those queued while it was not set
        are left out: the listener reads them back if it wants them)."""
        self._on_commit = listener

    async def _write_loop(self, scope: anyio.CancelScope) -> None:
        with scope:
            await self._write_batches()

    async def _write_batches(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            batch, self._pending = self._pending, []
            events, self._pending_events = self._pending_events, []
            event_count, self._pending_event_count = self._pending_event_count, 0
            if not batch:
                continue
            try:
                first_seq = await anyio.to_thread.run_sync(
                    commit, self._writer, batch, limiter=self._write_lock
                )
            except sqlite3.Error as error:
                self._failure = error
            else:
                self._committed += len(batch)
                for place, event in events:
                    event.seq = first_seq + place
                if event_count and self._on_commit is not None:
                    self._on_commit(first_seq + event_count - 1, [event for _, event in events])
            progress, self._progress = self._progress, anyio.Event()
            progress.set()

    async def transact(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in a transaction of its own, after everything queued so far: for writes
        whose outcome decides what happens next (taking a lease)."""
        await self.flush()

        def in_transaction(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                answer = work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return answer

        try:
            return await anyio.to_thread.run_sync(in_transaction, self._writer, limiter=self._write_lock)
        except sqlite3.Error as error:
            raise StoreError(f"cannot write to the store at {self.path}: {error}") from error

    async def write_now(self, writes: Iterable[Write]) -> None:
        """Queue `writes` and wait for their commit (for things that must be durable first)."""
        self.enqueue_all(list(writes))
        await self.flush()

    # -- runs and tasks ----------------------------------------------------------------------

    async def create_run(self, run_id: str, spec: RunSpec, owner: Owner) -> None:
        """The run and its tasks, durably, leased to `owner` from the start."""
        now = time.time()
        writes: list[Write] = [
            (
                "INSERT INTO runs (id, name, strategy, state, spec, created_at, owner, executor) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    spec.name,
                    spec.strategy,
                    RunState.PENDING,
                    _spec_json(spec),
                    now,
                    owner.to_json(),
                    owner.role,
                ),
            )
        ]
        pending = TaskState.PENDING
        writes.extend(
            (INSERT_TASK, (run_id, task.id, position, _json(task, exclude_unset=True), pending, now))
            for position, task in enumerate(spec.tasks)
        )
        await self.write_now(writes)

    def set_run_state(self, run_id: str, state: RunState, note: str | None = None) -> None:
        """The run's state and note (a run that starts again loses the note of how it last stopped)."""
        finished = time.time() if state.is_final else None
        self.enqueue(
            "UPDATE runs SET state = ?, finished_at = ?, note = ? WHERE id = ?",
            (state, finished, note, run_id),
        )

    def set_task_state(
        self,
        run_id: str,
        task_id: str,
        state: TaskState,
        reason: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        self.enqueue(SET_TASK_STATE, (state, reason, retry_at, time.time(), run_id, task_id))

    # -- leases and requests -----------------------------------------------------------------

    async def claim_run(
        self, run_id: str, owner: Owner, expected: str | None, *, to_execute: bool = True
    ) -> bool:
        """Take the run's lease if it is still held by `expected` (None: by nobody). Taken
        `to_execute`, the run becomes `owner`'s role's (a daemon resumes its own runs); taken only
        to close it, it stays whose it was."""

        def swap(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE runs SET owner = ?, executor = CASE WHEN ? THEN ? ELSE executor END "
                "WHERE id = ? AND owner IS ?",
                (owner.to_json(), to_execute, owner.role, run_id, expected),
            )
            return cursor.rowcount == 1

        return await self.transact(swap)

    def release_run(self, run_id: str, owner: Owner) -> None:
        """Give the lease back (queued after everything the owner wrote for the run)."""
        self.enqueue("UPDATE runs SET owner = NULL WHERE id = ? AND owner = ?", (run_id, owner.to_json()))

    async def add_request(self, run_id: str, task_id: str | None, kind: RequestKind, reason: str) -> None:
        await self.write_now(
            [
                (
                    "INSERT INTO requests (run_id, task_id, kind, reason, created_at) VALUES (?, ?, ?, ?, ?)",
                    (run_id, task_id, kind, reason, time.time()),
                )
            ]
        )

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
                attempt.engine,
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

    def record_gate(self, run_id: str, position: int, result: GateResult) -> None:
        """The result of the run's gate number `position` (from 0), replacing an earlier one's."""
        self.enqueue(
            "INSERT OR REPLACE INTO gate_results (run_id, position, body) VALUES (?, ?, ?)",
            (run_id, position, _json(result)),
        )

    def clear_gates(self, run_id: str) -> None:
        """Forget the run's gate results: it runs again, and so will they."""
        self.enqueue("DELETE FROM gate_results WHERE run_id = ?", (run_id,))

    def record_isolation(self, run_id: str, repo: Path, base: str) -> None:
        """An isolated run's repository and base: what `parallelai diff` and `apply` start from."""
        self.enqueue(isolation_rows.RECORD_ISOLATION, (run_id, str(repo), base))

    def record_change(
        self, run_id: str, task_id: str, change: TaskChange, outcome: ChangeOutcome, merged_as: str | None
    ) -> None:
        """A task's captured change and what became of it, replacing an earlier attempt's."""
        self.enqueue(isolation_rows.RECORD_CHANGE, (run_id, task_id, outcome, merged_as, _json(change)))

    def append_event(self, event: Event) -> None:
        """Queue an event; it gets its seq when committed (then `on_commit` hands it on)."""
        self.enqueue(APPEND_EVENT, (event.run_id, event.type, _event_json(event)))
        if self.keep_events:
            self._pending_events.append((self._pending_event_count, event))
        self._pending_event_count += 1

    # -- reads: one trip to the reader thread each (the queries are in `_queries`) ----------------

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(query, self._reader, limiter=self._read_lock)

    async def get_run(self, run_id: str) -> RunRow | None:
        return await self._read(lambda db: queries.run(db, run_id))

    async def run_with_totals(self, run_id: str) -> tuple[RunRow, RunTotals] | None:
        """`get_run` and `run_totals` in one trip to the reader thread (a summary needs both)."""
        return await self._read(lambda db: queries.run_with_totals(db, run_id))

    async def run_state(self, run_id: str) -> RunState | None:
        """Just the state of a run: cheaper than `get_run`, which parses the whole spec."""
        return await self._read(lambda db: queries.run_state(db, run_id))

    async def list_runs(self, state: RunState | None = None, limit: int = 50) -> list[RunRow]:
        return await self._read(lambda db: queries.list_runs(db, state, limit))

    async def list_runs_with_totals(
        self, state: RunState | None = None, limit: int = 50, offset: int = 0
    ) -> list[tuple[RunRow, RunTotals]]:
        """`list_runs` (the `offset` newest skipped) and each run's `run_totals`, in one trip to
        the reader thread."""
        return await self._read(lambda db: queries.list_runs_with_totals(db, state, limit, offset))

    async def run_totals(self, run_id: str) -> RunTotals:
        return await self._read(lambda db: queries.totals(db, run_id))

    async def task_records(self, run_id: str, task_id: str | None = None) -> list[TaskRecord]:
        """Tasks of a run in plan order, with results and attempts (one task when `task_id` is given)."""
        return await self._read(lambda db: queries.task_records(db, run_id, task_id))

    async def task_page(
        self, run_id: str, changed_after: int | None = None, limit: int | None = None, offset: int = 0
    ) -> TaskPage:
        """Tasks of a run in plan order from one snapshot, with the run's change counter: only
        those changed after `changed_after` (a `cursor` read before), then paged by `offset` and
        `limit`. A change committed after the read has a larger number than its cursor."""
        return await self._read(lambda db: queries.task_page(db, run_id, changed_after, limit, offset))

    async def task_events(self, run_id: str, task_id: str, limit: int) -> list[Event]:
        """The newest `limit` events of one task, oldest first (an indexed read, not the run's)."""
        return await self._read_events(lambda db: queries.task_events(db, run_id, task_id, limit))

    async def task_engines(self, run_id: str) -> dict[str, str | None]:
        """Each task's own engine by task id, in plan order (None where the run's applies)."""
        return await self._read(lambda db: queries.task_engines(db, run_id))

    async def isolated_run(self, run_id: str) -> IsolatedRun | None:
        """Where an isolated run's repository and base are; None for a run without isolation."""
        return await self._read(lambda db: isolation_rows.isolated_run(db, run_id))

    async def task_change(self, run_id: str, task_id: str) -> StoredChange | None:
        """The change a task of an isolated run made, once it was captured."""
        return await self._read(lambda db: isolation_rows.task_change(db, run_id, task_id))

    async def task_changes(self, run_id: str) -> list[StoredChange]:
        """Every change captured in an isolated run so far, by task id; empty for any other run."""
        return await self._read(lambda db: isolation_rows.task_changes(db, run_id))

    async def cached_result(self, fingerprint: str) -> TaskResult | None:
        return await self._read(lambda db: queries.cached_result(db, fingerprint))

    async def _read_events(self, query: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(query, self._event_reader, limiter=self._event_read_lock)

    async def events_after(self, seq: int, run_id: str | None = None, limit: int = 5000) -> list[Event]:
        return await self._read_events(lambda db: queries.events_after(db, seq, run_id, limit))

    async def new_events(
        self, after: int, run_ids: Collection[str] | None, limit: int
    ) -> tuple[int, list[Event]]:
        """Events after `after` (of `run_ids` only, unless None), and the seq up to which that is
        complete: the newest stored, or the last returned when `limit` cut the answer short (then
        there may be more)."""
        return await self._read_events(lambda db: queries.new_events(db, after, run_ids, limit))

    async def last_seq(self) -> int:
        return await self._read(queries.last_seq)

    async def leases(self) -> list[Lease]:
        """Every run that has not finished, with its lease."""
        return await self._read(queries.leases)

    async def requests_after(self, request_id: int) -> list[Request]:
        return await self._read(lambda db: queries.requests_after(db, request_id))

    async def last_request_id(self) -> int:
        return await self._read(queries.last_request_id)


def connect_reader(path: Path) -> sqlite3.Connection:
    """One more connection that only reads (the store exists and is migrated: `connect_pair` did it)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    db.execute("PRAGMA busy_timeout = 30000")
    db.execute("PRAGMA query_only = ON")
    # It reads each event about once, just after its commit: a page cache would only hold memory.
    db.execute("PRAGMA cache_size = -256")
    return db


def _json(model: BaseModel, *, exclude_unset: bool = False) -> str:
    """`model.model_dump_json()` without its keyword handling: ~0.8 us less, for every event."""
    return model.__pydantic_serializer__.to_json(model, exclude_unset=exclude_unset).decode()


def _event_json(event: Event) -> str:
    # Without its seq: the column holds it, given only when the event is committed.
    return event.__pydantic_serializer__.to_json(event, exclude=_NO_SEQ).decode()


_NO_SEQ = {"seq"}


def _spec_json(spec: RunSpec) -> str:
    # Tasks live in their own rows; the run keeps the rest of its spec.
    return spec.model_dump_json(exclude={"tasks"})


__all__ = [
    "IsolatedRun",
    "Lease",
    "Request",
    "RequestKind",
    "RunRow",
    "RunTotals",
    "Store",
    "StoredChange",
    "TaskPage",
]

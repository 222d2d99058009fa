"""The store's reads: SQL over the reader connection, answered in our own types.

Each function runs in the reader's worker thread (`Store._read`), so it may block; none writes.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from parallelai.events import EVENT_ADAPTER, Event
from parallelai.models import (
    Attempt,
    ErrorKind,
    GateResult,
    RunSpec,
    RunState,
    Task,
    TaskError,
    TaskRecord,
    TaskResult,
    TaskState,
    Usage,
)

RequestKind = Literal["cancel", "cancel_task"]

log = logging.getLogger("parallelai.store")


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
    owner: str | None  # the lease: the executing process, as `Owner` JSON; None when nobody holds it


@dataclass(frozen=True, slots=True)
class RunTotals:
    counts: dict[TaskState, int]
    usage: Usage
    reused: int
    gates: list[GateResult]


@dataclass(frozen=True, slots=True)
class Lease:
    """A run that has not finished, and who holds it (what a successor needs to decide)."""

    run_id: str
    state: RunState
    owner: str | None
    executor: str | None  # the role of the last process that executed it ("daemon", "local")


@dataclass(frozen=True, slots=True)
class Request:
    """Something asked of a run's owner by another process."""

    id: int
    run_id: str
    task_id: str | None
    kind: RequestKind
    reason: str


_RUN_COLUMNS = "id, name, strategy, state, spec, created_at, finished_at, note, owner"
_SELECT_RUN = f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?"


def run(db: sqlite3.Connection, run_id: str) -> RunRow | None:
    row = db.execute(_SELECT_RUN, (run_id,)).fetchone()
    return _run_row(row) if row else None


def run_with_totals(db: sqlite3.Connection, run_id: str) -> tuple[RunRow, RunTotals] | None:
    row = db.execute(_SELECT_RUN, (run_id,)).fetchone()
    return (_run_row(row), totals(db, run_id)) if row else None


def run_state(db: sqlite3.Connection, run_id: str) -> RunState | None:
    row = db.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()
    return RunState(row[0]) if row else None


def list_runs(db: sqlite3.Connection, state: RunState | None, limit: int, offset: int = 0) -> list[RunRow]:
    """Newest first; runs created in the same instant in a fixed order, so pages never overlap."""
    where, params = ("WHERE state = ?", (state, limit, offset)) if state else ("", (limit, offset))
    rows = db.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?", params
    )
    listed: list[RunRow] = []
    for row in rows:
        try:
            listed.append(_run_row(row))
        except ValueError as error:  # a ValidationError, or JSON that is not
            # One run this version cannot read (damaged, or written by a later version) must not
            # hide every other run from `runs`, the dashboard and the API.
            log.warning("run %s cannot be read by this version, so it is not listed: %s", row[0], error)
    return listed


def list_runs_with_totals(
    db: sqlite3.Connection, state: RunState | None, limit: int, offset: int = 0
) -> list[tuple[RunRow, RunTotals]]:
    """`list_runs` with every listed run's totals, from one snapshot in three grouped queries.

    Not a `totals` per run: under load every query is a trip that waits its turn, and a list of
    50 runs asked 151 of them.
    """
    db.execute("BEGIN")  # the runs and their totals from one snapshot
    try:
        runs = list_runs(db, state, limit, offset)
        if not runs:
            return []
        ids = [row.id for row in runs]
        marks = ",".join("?" * len(ids))
        counts = {run_id: dict.fromkeys(TaskState, 0) for run_id in ids}
        for run_id, task_state, count in db.execute(
            f"SELECT run_id, state, COUNT(*) FROM tasks WHERE run_id IN ({marks}) GROUP BY run_id, state", ids
        ):
            counts[run_id][TaskState(task_state)] = count
        sums = {
            row[0]: row[1:]
            for row in db.execute(
                f"SELECT run_id, {_USAGE_SUMS} FROM results WHERE run_id IN ({marks}) GROUP BY run_id", ids
            )
        }
        gates: dict[str, list[GateResult]] = {run_id: [] for run_id in ids}
        for run_id, body in db.execute(
            f"SELECT run_id, body FROM gate_results WHERE run_id IN ({marks}) ORDER BY run_id, position", ids
        ):
            gates[run_id].append(GateResult.model_validate_json(body))
    finally:
        db.execute("COMMIT")
    return [(row, _totals(counts[row.id], sums.get(row.id, (0, 0, 0, 0)), gates[row.id])) for row in runs]


# A reused result keeps what it cost when it was made; this run spent nothing on it.
_USAGE_SUMS = (
    "COALESCE(SUM(input_tokens * (1 - reused)), 0), COALESCE(SUM(output_tokens * (1 - reused)), 0), "
    "COALESCE(SUM(cost_usd * (1 - reused)), 0), COALESCE(SUM(reused), 0)"
)


def _totals(counts: dict[TaskState, int], sums: tuple[Any, ...], gates: list[GateResult]) -> RunTotals:
    usage = Usage(input_tokens=sums[0], output_tokens=sums[1], cost_usd=sums[2])
    return RunTotals(counts=counts, usage=usage, reused=sums[3], gates=gates)


def totals(db: sqlite3.Connection, run_id: str) -> RunTotals:
    counts = dict.fromkeys(TaskState, 0)
    for state, count in db.execute(
        "SELECT state, COUNT(*) FROM tasks WHERE run_id = ? GROUP BY state", (run_id,)
    ):
        counts[TaskState(state)] = count
    sums = db.execute(f"SELECT {_USAGE_SUMS} FROM results WHERE run_id = ?", (run_id,)).fetchone()
    gates = [
        GateResult.model_validate_json(body)
        for (body,) in db.execute(
            "SELECT body FROM gate_results WHERE run_id = ? ORDER BY position", (run_id,)
        )
    ]
    return _totals(counts, sums, gates)


def task_records(db: sqlite3.Connection, run_id: str, task_id: str | None) -> list[TaskRecord]:
    """Tasks of a run in plan order, with results and attempts (one task when `task_id` is given)."""
    if task_id:
        return _records(db, run_id, "t.id = ?", (task_id,), "")
    return _records(db, run_id, "1", (), "")


@dataclass(frozen=True, slots=True)
class TaskPage:
    records: list[TaskRecord]
    cursor: int  # the run's change counter when this was read: ask for what changed after it next


def task_page(
    db: sqlite3.Connection, run_id: str, changed_after: int | None, limit: int | None, offset: int
) -> TaskPage:
    """A run's tasks in plan order from one snapshot: those changed after the counter
    `changed_after` (all when None), then `offset` of them skipped and at most `limit` kept."""
    where, params = ("t.changed > ?", (changed_after,)) if changed_after is not None else ("1", ())
    page = f" LIMIT {int(-1 if limit is None else limit)} OFFSET {int(offset)}" if limit or offset else ""
    db.execute("BEGIN")  # the rows, their attempts and the cursor from one snapshot
    try:
        cursor = int(
            db.execute("SELECT COALESCE(MAX(changed), 0) FROM tasks WHERE run_id = ?", (run_id,)).fetchone()[
                0
            ]
        )
        records = _records(db, run_id, where, params, page)
    finally:
        db.execute("COMMIT")
    return TaskPage(records, cursor)


def _records(
    db: sqlite3.Connection, run_id: str, where: str, params: tuple[Any, ...], page: str
) -> list[TaskRecord]:
    """The run's tasks matching `where` (over `tasks t`), in plan order, cut by `page`."""
    rows = db.execute(
        "SELECT t.id, t.spec, t.state, t.reason, t.retry_at, r.body FROM tasks t LEFT JOIN results r "
        f"ON r.run_id = t.run_id AND r.task_id = t.id WHERE t.run_id = ? AND {where} ORDER BY t.position{page}",
        (run_id, *params),
    ).fetchall()
    attempts: dict[str, list[Attempt]] = {}
    only, wanted = "", ""  # every task's attempts: no need to name them
    if where != "1" or page:
        only, wanted = (
            " AND task_id IN (SELECT value FROM json_each(?))",
            json.dumps([row[0] for row in rows]),
        )
    for row in db.execute(
        "SELECT task_id, number, started_at, finished_at, state, error_kind, error_message, engine "
        f"FROM attempts WHERE run_id = ?{only} ORDER BY task_id, number",
        (run_id, wanted) if only else (run_id,),
    ):
        error = TaskError(kind=ErrorKind(row[5]), message=row[6] or "") if row[5] else None
        attempts.setdefault(row[0], []).append(
            Attempt(
                number=row[1],
                engine=row[7],
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
            retry_at=retry_at,
            result=TaskResult.model_validate_json(body) if body else None,
            attempts=attempts.get(tid, []),
        )
        for tid, spec, state, reason, retry_at, body in rows
    ]


def task_events(db: sqlite3.Connection, run_id: str, task_id: str, limit: int) -> list[Event]:
    """The newest `limit` events of one task, oldest first (through `events_by_task`)."""
    rows = db.execute(
        "SELECT seq, body FROM events WHERE run_id = ? AND task_id = ? ORDER BY seq DESC LIMIT ?",
        (run_id, task_id, limit),
    ).fetchall()
    return [_event(seq, body) for seq, body in reversed(rows)]


def task_engines(db: sqlite3.Connection, run_id: str) -> dict[str, str | None]:
    """Each task's own engine (None: the run's), read from its stored spec without parsing it:
    a 1,000-task run's full records are ~6 MB of objects, and the allocator keeps the peak."""
    query = "SELECT id, json_extract(spec, '$.engine') FROM tasks WHERE run_id = ? ORDER BY position"
    return dict(db.execute(query, (run_id,)).fetchall())


def cached_result(db: sqlite3.Connection, fingerprint: str) -> TaskResult | None:
    row = db.execute(
        "SELECT body FROM results WHERE fingerprint = ? AND ok = 1 LIMIT 1", (fingerprint,)
    ).fetchone()
    return TaskResult.model_validate_json(row[0]) if row else None


def events_after(db: sqlite3.Connection, seq: int, run_id: str | None, limit: int) -> list[Event]:
    if run_id is None:
        cursor = db.execute("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
    else:
        cursor = db.execute(
            "SELECT seq, body FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (run_id, seq, limit),
        )
    return [_event(seq, body) for seq, body in cursor]


def new_events(
    db: sqlite3.Connection, after: int, run_ids: Collection[str] | None, limit: int
) -> tuple[int, list[Event]]:
    """Events after `after` (of `run_ids` only, unless None), and the seq up to which that is
    complete: the newest stored, or the last returned when `limit` cut the answer short."""
    db.execute("BEGIN")  # one snapshot for both questions
    try:
        newest = int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])
        if newest <= after:
            return newest, []
        if run_ids is None:
            rows = db.execute(
                "SELECT seq, body FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (after, newest, limit),
            ).fetchall()
        else:
            marks = ",".join("?" * len(run_ids))
            rows = db.execute(
                f"SELECT seq, body FROM events WHERE seq > ? AND seq <= ? AND run_id IN ({marks}) "
                "ORDER BY seq LIMIT ?",
                (after, newest, *run_ids, limit),
            ).fetchall()
    finally:
        db.execute("COMMIT")
    complete = rows[-1][0] if len(rows) == limit else newest
    return complete, [_event(seq, body) for seq, body in rows]


def last_seq(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])


def leases(db: sqlite3.Connection) -> list[Lease]:
    """Every run that has not finished, with its lease."""
    rows = db.execute(
        "SELECT id, state, owner, executor FROM runs WHERE state IN (?, ?, ?)",
        (RunState.PENDING, RunState.RUNNING, RunState.INTERRUPTED),
    )
    return [Lease(row[0], RunState(row[1]), row[2], row[3]) for row in rows]


def requests_after(db: sqlite3.Connection, request_id: int) -> list[Request]:
    rows = db.execute(
        "SELECT id, run_id, task_id, kind, reason FROM requests WHERE id > ? ORDER BY id", (request_id,)
    )
    return [Request(row[0], row[1], row[2], row[3], row[4]) for row in rows]


def last_request_id(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM requests").fetchone()[0])


def _event(seq: int, body: str) -> Event:
    event = EVENT_ADAPTER.validate_json(body)
    event.seq = seq  # bodies are stored without it: the column is the one truth
    return event


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
        owner=row[8],
    )

"""Group commits: a batch of queued writes applied in one BEGIN IMMEDIATE transaction, with the
writes made for every task packed many rows to a statement, and the batch's events numbered.

Event sequence numbers come from the store, not from a process: inside the transaction, which
holds SQLite's write lock, the batch's events take the numbers after the highest one stored. So
any number of processes can append to one store, and `seq` stays unique and gap-free.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

Write = tuple[str, Sequence[Any]]

# The writes made for every task, and how to make many rows of each with one statement.
#
# Why: sqlite3 lets go of the GIL for every statement it steps (every row of an executemany) and
# must take it back before the next one. While the event loop is busy, that takes up to the 5 ms
# switch interval each time: a 900-row commit took 1.9 ms beside an idle loop and 500 ms beside a
# busy one, so during a burst of finishing tasks the writer stood still and the run's final flush
# (what a caller waits for) had the whole burst left to write. A few hundred rows per statement
# make that a handful of waits per commit instead of one per row.
INSERT_TASK = "INSERT INTO tasks (run_id, id, position, spec, state, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
SET_TASK_STATE = (
    "UPDATE tasks SET state = ?, reason = ?, retry_at = ?, updated_at = ? WHERE run_id = ? AND id = ?"
)
RECORD_ATTEMPT = (
    "INSERT OR REPLACE INTO attempts (run_id, task_id, number, started_at, finished_at, state, "
    "error_kind, error_message, engine) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
RECORD_RESULT = (
    "INSERT OR REPLACE INTO results (run_id, task_id, fingerprint, body, ok, reused, input_tokens, "
    "output_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Queued as (run_id, type, body); `commit` puts the event's seq in front.
APPEND_EVENT = "INSERT INTO events (seq, run_id, type, body) VALUES (?, ?, ?, ?)"
_MULTI_ROW_INSERTS = frozenset({INSERT_TASK, RECORD_ATTEMPT, RECORD_RESULT, APPEND_EVENT})
# The writes that change a task's row in the task table, and where its run and task ids are among
# their parameters. Each commit gives the tasks it changed the next number of their run's change
# counter (`tasks.changed`), once per task and run, after its writes: a reader that saw the
# counter at N asks for `changed > N` and misses nothing (a commit is seen whole or not at all,
# and holds the write lock, so the numbers only grow, whichever process writes).
_CHANGES_TASK = {INSERT_TASK: (0, 1), SET_TASK_STATE: (4, 5), RECORD_ATTEMPT: (0, 1), RECORD_RESULT: (0, 1)}
_NUMBER_CHANGES = (
    "UPDATE tasks SET changed = (SELECT MAX(changed) FROM tasks WHERE run_id = ?1) + 1 "
    "WHERE run_id = ?1 AND id IN (SELECT value FROM json_each(?2))"
)
# A few fixed statement sizes, so that every statement is prepared once and then found in the
# connection's cache; at most 9 parameters a row keeps 100 rows within SQLite's 999 variables.
_STATEMENT_ROWS = (100, 20, 5, 1)
_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)  # UPDATE ... FROM (VALUES ...)


@functools.cache
def _insert_rows(sql: str, rows: int) -> str:
    """`INSERT ... VALUES (?, ?)` for `rows` rows; they are inserted in order, as one by one."""
    head, values = sql.split(" VALUES ")
    return f"{head} VALUES {', '.join([values] * rows)}"


@functools.cache
def _set_task_states(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)  # the parameters of `SET_TASK_STATE`, in order
    return (
        "UPDATE tasks SET state = v.column1, reason = v.column2, retry_at = v.column3, updated_at = v.column4 "
        f"FROM (VALUES {values}) AS v WHERE tasks.run_id = v.column5 AND tasks.id = v.column6"
    )


def _write_rows(db: sqlite3.Connection, sql: str, rows: list[Sequence[Any]]) -> None:
    """Consecutive writes of one statement, applied in order."""
    many: Callable[[int], str]
    if sql in _MULTI_ROW_INSERTS:
        many = functools.partial(_insert_rows, sql)
    elif sql == SET_TASK_STATE and _UPDATE_FROM:
        # One UPDATE ... FROM applies one row per task, so only a task's last state is kept:
        # each state change sets every column, so that is what applying all of them would leave.
        rows = list({(row[4], row[5]): row for row in rows}.values())
        many = _set_task_states
    else:
        db.executemany(sql, rows)
        return
    start = 0
    for size in _STATEMENT_ROWS:
        statement = many(size) if size > 1 else sql
        while len(rows) - start >= size:
            db.execute(statement, [value for row in rows[start : start + size] for value in row])
            start += size


def commit(db: sqlite3.Connection, batch: list[Write]) -> int:
    """Apply `batch` in order, all or nothing; the seq its first event got (its events follow it)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        first_seq = next_seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM events").fetchone()[0]
        changed: dict[str, set[str]] = {}  # run id -> its tasks this batch changes
        # Consecutive writes of one statement go together; order is kept, which matters (an
        # attempt's insert must come before its update).
        start = 0
        while start < len(batch):
            sql = batch[start][0]
            end = start + 1
            while end < len(batch) and batch[end][0] is sql:
                end += 1
            rows = [params for _, params in batch[start:end]]
            if sql is APPEND_EVENT:
                rows = [(seq, *row) for seq, row in enumerate(rows, start=next_seq)]
                next_seq += len(rows)
            elif (ids := _CHANGES_TASK.get(sql)) is not None:
                for row in rows:
                    changed.setdefault(row[ids[0]], set()).add(row[ids[1]])
            _write_rows(db, sql, rows)
            start = end
        for run_id, task_ids in changed.items():
            db.execute(_NUMBER_CHANGES, (run_id, json.dumps(sorted(task_ids))))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return int(first_seq)

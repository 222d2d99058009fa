"""The store's rows for isolated runs: where a run's repository and base are, and each task's change.

Reads run in the reader's worker thread (`Store._read`); the writes are `Store.record_isolation`
and `Store.record_change`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from parallelai.workspaces.changes import TaskChange

# What became of a captured change: on the integration branch, refused by it, or out of scope.
ChangeOutcome = Literal["merged", "conflict", "outside_scope"]

RECORD_ISOLATION = "INSERT OR REPLACE INTO isolated_runs (run_id, repo, base) VALUES (?, ?, ?)"
RECORD_CHANGE = (
    "INSERT OR REPLACE INTO task_changes (run_id, task_id, outcome, merged_as, body) VALUES (?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class IsolatedRun:
    """An isolated run's repository (its top level) and the base its integration branch started at."""

    run_id: str
    repo: Path
    base: str


@dataclass(frozen=True, slots=True)
class StoredChange:
    task_id: str
    outcome: ChangeOutcome
    merged_as: str | None  # the commit on the integration branch; None unless merged (or empty)
    change: TaskChange


def isolated_run(db: sqlite3.Connection, run_id: str) -> IsolatedRun | None:
    row = db.execute("SELECT repo, base FROM isolated_runs WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else IsolatedRun(run_id, Path(row[0]), row[1])


def task_changes(db: sqlite3.Connection, run_id: str) -> list[StoredChange]:
    """Every captured change of the run, by task id."""
    rows = db.execute(
        "SELECT task_id, outcome, merged_as, body FROM task_changes WHERE run_id = ? ORDER BY task_id",
        (run_id,),
    ).fetchall()
    return [StoredChange(row[0], row[1], row[2], TaskChange.model_validate_json(row[3])) for row in rows]


def task_change(db: sqlite3.Connection, run_id: str, task_id: str) -> StoredChange | None:
    row = db.execute(
        "SELECT outcome, merged_as, body FROM task_changes WHERE run_id = ? AND task_id = ?",
        (run_id, task_id),
    ).fetchone()
    if row is None:
        return None
    return StoredChange(task_id, row[0], row[1], TaskChange.model_validate_json(row[2]))

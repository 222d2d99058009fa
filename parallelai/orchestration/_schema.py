"""The store's schema as numbered migrations; `PRAGMA user_version` records how far a file has come.

`connect_pair` opens a store file (creating it private to the user) and brings it up to date.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from parallelai.errors import StoreError
from parallelai.paths import ensure_private_dir

MIGRATIONS: tuple[str, ...] = (
    # 1: runs, tasks, attempts, results, events.
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        name TEXT,
        strategy TEXT NOT NULL,
        state TEXT NOT NULL,
        spec TEXT NOT NULL,
        created_at REAL NOT NULL,
        finished_at REAL,
        note TEXT
    );
    CREATE TABLE tasks (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        position INTEGER NOT NULL,
        spec TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        updated_at REAL NOT NULL,
        PRIMARY KEY (run_id, id)
    ) WITHOUT ROWID;
    CREATE TABLE attempts (
        run_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        started_at REAL NOT NULL,
        finished_at REAL,
        state TEXT NOT NULL,
        error_kind TEXT,
        error_message TEXT,
        PRIMARY KEY (run_id, task_id, number)
    ) WITHOUT ROWID;
    CREATE TABLE results (
        run_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        fingerprint TEXT,
        body TEXT NOT NULL,
        ok INTEGER NOT NULL,
        reused INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        PRIMARY KEY (run_id, task_id)
    ) WITHOUT ROWID;
    CREATE INDEX results_by_fingerprint ON results(fingerprint) WHERE ok = 1;
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        type TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX events_by_run ON events(run_id, seq);
    """,
    # 2: many processes on one store. A run's lease (`owner`: the process executing it, NULL when
    # none) and who last executed it; when a retrying task is due; requests (cancel a run or one
    # task) that any process leaves for the run's owner. Event bodies no longer carry their seq:
    # the column is the one truth, given at commit.
    """
    ALTER TABLE runs ADD COLUMN owner TEXT;
    ALTER TABLE runs ADD COLUMN executor TEXT;
    ALTER TABLE tasks ADD COLUMN retry_at REAL;
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        task_id TEXT,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX runs_by_state ON runs(state);
    """,
    # 3: gates: the result of each command parallelai ran itself once a run's tasks were done,
    # by its place in the run's `gates` (a resumed or retried run runs them again: replaced).
    """
    CREATE TABLE gate_results (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (run_id, position)
    ) WITHOUT ROWID;
    """,
    # 4: isolation: where an isolated run's repository and base are (its integration branch is
    # `parallelai/<run>` there), and each task's captured change with what became of it
    # (`merged` with its commit, `conflict`, `outside_scope`); the TaskChange as JSON, patch in base64.
    """
    CREATE TABLE isolated_runs (
        run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        repo TEXT NOT NULL,
        base TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE task_changes (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        task_id TEXT NOT NULL,
        outcome TEXT NOT NULL,
        merged_as TEXT,
        body TEXT NOT NULL,
        PRIMARY KEY (run_id, task_id)
    ) WITHOUT ROWID;
    """,
    # 5: failover: the engine (`name[:model]`) each attempt ran on; NULL for attempts recorded
    # before, which ran on their task's engine.
    """
    ALTER TABLE attempts ADD COLUMN engine TEXT;
    """,
    # 6: reading little. A task's events by their `task_id` (a column computed from the body, so
    # the writers stay as they were), for one task's log without reading its run's whole history.
    # Each task's `changed`: its run's change counter when the task's row, attempts or result last
    # changed, numbered by the commit that changed them (`_commit`), so a reader can ask for what
    # changed after the counter it last saw; tasks of a store from before start at 0.
    """
    ALTER TABLE events ADD COLUMN task_id TEXT GENERATED ALWAYS AS (json_extract(body, '$.task_id')) VIRTUAL;
    CREATE INDEX events_by_task ON events(run_id, task_id, seq);
    ALTER TABLE tasks ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX tasks_by_change ON tasks(run_id, changed);
    """,
)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA busy_timeout = 30000")
    return db


def connect_pair(path: Path) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    ensure_private_dir(path.parent)
    fresh = not path.exists()
    try:
        writer = _connect(path)
        try:
            if fresh:
                path.chmod(0o600)
            _migrate(writer, path)
            return writer, _connect(path)
        except BaseException:
            writer.close()  # a refused store (e.g. from a newer version) must not stay open
            raise
    except sqlite3.DatabaseError as error:
        raise StoreError(f"cannot open the store at {path}: {error}") from error


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the store at {path} has schema version {version}, newer than this parallelai "
                f"understands ({len(MIGRATIONS)}); upgrade parallelai or point --store elsewhere"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")

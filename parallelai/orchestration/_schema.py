"""The store's schema as numbered migrations; `PRAGMA user_version` records how far a file has come."""

from __future__ import annotations

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
)

"""The store's small reads: a run's tasks changed after a cursor, a page of them, one task's events
through an index, and a store of the previous schema migrated to give them."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from parallelai.events import TaskOutput, TaskStateChanged
from parallelai.models import Attempt, RunState, TaskResult, TaskState
from parallelai.orchestration._commit import INSERT_TASK
from parallelai.orchestration._schema import MIGRATIONS
from parallelai.orchestration.lease import Owner
from parallelai.orchestration.store import Store
from tests.orchestration._support import echo_task, run_spec

pytestmark = pytest.mark.anyio


async def _run_of(store: Store, run_id: str, count: int) -> None:
    spec = run_spec([echo_task(f"t{index}") for index in range(count)])
    await store.create_run(run_id, spec, Owner.new("local"))


async def _ids_changed_after(store: Store, run_id: str, cursor: int) -> tuple[list[str], int]:
    page = await store.task_page(run_id, changed_after=cursor)
    return [record.task.id for record in page.records], page.cursor


async def test_tasks_changed_in_one_commit_are_all_after_the_cursor_read_before_and_none_after(
    tmp_path: Path,
) -> None:
    async with Store.open(tmp_path / "db.sqlite") as store:
        await _run_of(store, "r1", 5)
        everything = await store.task_page("r1")
        assert [record.task.id for record in everything.records] == [f"t{i}" for i in range(5)]
        before = everything.cursor

        # One group commit, one instant: both tasks share their `updated_at`.
        store.set_task_state("r1", "t3", TaskState.RUNNING)
        store.set_task_state("r1", "t1", TaskState.RUNNING)
        await store.flush()

        changed, after = await _ids_changed_after(store, "r1", before)
        assert changed == ["t1", "t3"]  # plan order
        assert after > before
        assert await _ids_changed_after(store, "r1", after) == ([], after)


async def test_an_attempt_or_a_result_is_a_change_of_its_task(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "db.sqlite") as store:
        await _run_of(store, "r1", 3)
        cursor = (await store.task_page("r1")).cursor

        now = time.time()
        attempt = Attempt(number=1, started_at=now, state=TaskState.RUNNING)
        store.record_attempt("r1", "t1", attempt)
        await store.flush()
        changed, cursor = await _ids_changed_after(store, "r1", cursor)
        assert changed == ["t1"]

        store.record_result("r1", "t2", TaskResult(text="done", duration_s=0.5), None)
        await store.flush()
        changed, cursor = await _ids_changed_after(store, "r1", cursor)
        assert changed == ["t2"]
        (record,) = (await store.task_page("r1", changed_after=cursor - 1)).records
        assert record.result is not None
        assert record.result.text == "done"


async def test_one_run_s_changes_do_not_move_another_run_s_cursor(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "db.sqlite") as store:
        await _run_of(store, "r1", 2)
        await _run_of(store, "r2", 2)
        cursor = (await store.task_page("r1")).cursor
        store.set_task_state("r2", "t0", TaskState.RUNNING)
        await store.flush()
        assert await _ids_changed_after(store, "r1", cursor) == ([], cursor)


async def test_pages_of_tasks_follow_plan_order_with_their_attempts(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "db.sqlite") as store:
        await _run_of(store, "r1", 7)
        for index in range(7):
            attempt = Attempt(number=1, started_at=time.time(), state=TaskState.FAILED)
            store.record_attempt("r1", f"t{index}", attempt)
        await store.flush()

        first = await store.task_page("r1", limit=3)
        rest = await store.task_page("r1", offset=3)
        middle = await store.task_page("r1", limit=2, offset=2)

        assert [r.task.id for r in first.records] == ["t0", "t1", "t2"]
        assert [r.task.id for r in rest.records] == ["t3", "t4", "t5", "t6"]
        assert [r.task.id for r in middle.records] == ["t2", "t3"]
        assert all(len(r.attempts) == 1 for r in [*first.records, *rest.records])
        assert (await store.task_page("r1", offset=7)).records == []


async def test_a_task_s_events_are_read_through_an_index_newest_kept_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    async with Store.open(path) as store:
        for index in range(5):
            store.append_event(TaskOutput(run_id="r1", task_id="a", text=f"a{index}"))
            store.append_event(TaskOutput(run_id="r1", task_id="b", text=f"b{index}"))
            store.append_event(TaskOutput(run_id="r2", task_id="a", text=f"other{index}"))
        await store.flush()

        log = await store.task_events("r1", "a", limit=3)

    assert [event.text for event in log if isinstance(event, TaskOutput)] == ["a2", "a3", "a4"]
    assert [event.seq for event in log] == sorted(event.seq for event in log)
    with sqlite3.connect(path) as db:
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT seq, body FROM events WHERE run_id = ? AND task_id = ? "
            "ORDER BY seq DESC LIMIT ?",
            ("r1", "a", 3),
        ).fetchall()
    db.close()
    assert "events_by_task" in " ".join(str(row[-1]) for row in plan)


def _store_of_schema_5(path: Path) -> None:
    """A store as the previous version left it: a run, its tasks and their events."""
    db = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:5]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 5")
    spec = run_spec([]).model_dump_json(exclude={"tasks"})
    db.execute(
        "INSERT INTO runs (id, strategy, state, spec, created_at) VALUES ('r1', 'parallel', ?, ?, 1.0)",
        (RunState.SUCCEEDED, spec),
    )
    for index, task_id in enumerate(["a", "b"]):
        task = echo_task(task_id).model_dump_json(exclude_unset=True)
        db.execute(
            "INSERT INTO tasks (run_id, id, position, spec, state, updated_at) VALUES ('r1', ?, ?, ?, ?, 1.0)",
            (task_id, index, task, TaskState.SUCCEEDED),
        )
    for seq, task_id in enumerate(["a", "b", "a"], start=1):
        event = TaskStateChanged(run_id="r1", task_id=task_id, state=TaskState.SUCCEEDED)
        db.execute(
            "INSERT INTO events (seq, run_id, type, body) VALUES (?, 'r1', 'task.state', ?)",
            (seq, event.model_dump_json(exclude={"seq"})),
        )
    db.close()


async def test_a_store_of_the_previous_schema_migrates_and_answers_the_small_reads(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _store_of_schema_5(path)

    async with Store.open(path) as store:
        log = await store.task_events("r1", "a", limit=10)
        everything = await store.task_page("r1")
        store.set_task_state("r1", "b", TaskState.PENDING)
        await store.flush()
        changed = await store.task_page("r1", changed_after=everything.cursor)

    assert [event.seq for event in log] == [1, 3]
    assert [record.task.id for record in everything.records] == ["a", "b"]
    assert [record.task.id for record in changed.records] == ["b"]
    assert changed.cursor > everything.cursor
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    db.close()


async def test_a_task_added_to_a_run_later_is_a_change_after_the_cursor(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "db.sqlite") as store:
        await _run_of(store, "r1", 2)
        cursor = (await store.task_page("r1")).cursor
        late = echo_task("late").model_dump_json(exclude_unset=True)
        store.enqueue(INSERT_TASK, ("r1", "late", 2, late, TaskState.PENDING, time.time()))
        await store.flush()

        assert (await _ids_changed_after(store, "r1", cursor))[0] == ["late"]

"""The SQLite store: migrated, WAL, private, durable, and refusing files from the future."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from parallelai.errors import InputError, RunNotFoundError, StoreError, TaskNotFoundError
from parallelai.models import Attempt, RunState, TaskState
from parallelai.orchestration._schema import MIGRATIONS
from parallelai.orchestration.lease import Owner
from parallelai.orchestration.service import OrchestrationService
from parallelai.orchestration.store import Store
from tests.orchestration._support import echo_task, run_spec, run_to_end

pytestmark = pytest.mark.anyio


def _pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


async def test_a_new_store_is_migrated_to_the_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    async with Store.open(path) as store:
        assert await store.last_seq() == 0

    assert _pragma(path, "user_version") == len(MIGRATIONS)
    assert _pragma(path, "journal_mode") == "wal"
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "tasks", "attempts", "results", "events"} <= tables


async def test_the_store_file_and_its_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nested" / "db.sqlite"
    async with Store.open(path) as store:
        await store.write_now(
            [("INSERT INTO events (seq, run_id, type, body) VALUES (1, 'r', 't', '{}')", ())]
        )
        wal = path.with_name(path.name + "-wal")
        assert wal.exists()
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def test_a_store_from_a_newer_schema_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()

    with pytest.raises(StoreError, match="newer") as caught:
        async with Store.open(path):
            pass

    assert "upgrade parallelai" in str(caught.value)
    assert _pragma(path, "user_version") == len(MIGRATIONS) + 1
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0


async def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)

    with pytest.raises(StoreError, match="cannot open"):
        async with Store.open(path):
            pass


async def test_reopening_a_migrated_store_keeps_its_runs(store_path: Path) -> None:
    async with OrchestrationService.open(store_path) as service:
        summary, _ = await run_to_end(service, run_spec([echo_task("kept")]))

    async with OrchestrationService.open(store_path) as reopened:
        runs = await reopened.list_runs()
        record = await reopened.task(summary.id, "kept")

    assert [run.id for run in runs] == [summary.id]
    assert runs[0].state is RunState.SUCCEEDED
    assert record.result is not None
    assert record.result.text == "echo: do kept"
    assert _pragma(store_path, "user_version") == len(MIGRATIONS)


async def test_a_finished_run_is_committed_for_any_other_reader(
    service: OrchestrationService, store_path: Path
) -> None:
    summary, events = await run_to_end(service, run_spec([echo_task("a"), echo_task("b")]))

    with sqlite3.connect(store_path) as db:
        state = db.execute("SELECT state FROM runs WHERE id = ?", (summary.id,)).fetchone()[0]
        tasks = db.execute(
            "SELECT COUNT(*) FROM tasks WHERE run_id = ? AND state = 'succeeded'", (summary.id,)
        )
        task_count = tasks.fetchone()[0]
        event_count = db.execute("SELECT COUNT(*) FROM events WHERE run_id = ?", (summary.id,)).fetchone()[0]
    assert state == "succeeded"
    assert task_count == 2
    assert event_count == len(events)


async def test_asking_about_an_unknown_run_or_task_names_it(service: OrchestrationService) -> None:
    summary, _ = await run_to_end(service, run_spec([echo_task("a")]))

    with pytest.raises(RunNotFoundError, match="r-missing"):
        await service.summary("r-missing")
    with pytest.raises(RunNotFoundError):
        await service.resume("r-missing")
    with pytest.raises(RunNotFoundError):
        await service.cancel("r-missing")
    with pytest.raises(TaskNotFoundError, match="'zz'"):
        await service.task(summary.id, "zz")


async def test_runs_are_listed_newest_first_and_filtered_by_state(service: OrchestrationService) -> None:
    ok, _ = await run_to_end(service, run_spec([echo_task("a")]))
    bad, _ = await run_to_end(service, run_spec([echo_task("b", fail_attempts=1, failure_kind="auth")]))

    assert [run.id for run in await service.list_runs()] == [bad.id, ok.id]
    assert [run.id for run in await service.list_runs(RunState.FAILED)] == [bad.id]
    assert [run.id for run in await service.list_runs(limit=1)] == [bad.id]


async def test_the_state_of_a_run_can_be_read_on_its_own(service: OrchestrationService) -> None:
    summary, _ = await run_to_end(service, run_spec([echo_task("a")]))

    assert await service.store.run_state(summary.id) is RunState.SUCCEEDED
    assert await service.store.run_state("r-unknown") is None


async def test_a_group_commit_of_many_rows_keeps_their_order_and_each_task_s_last_state(
    store_path: Path,
) -> None:
    # 257 tasks: several multi-row statements of every size, and single rows left over.
    spec = run_spec([echo_task(f"t{i}") for i in range(257)])
    async with Store.open(store_path) as store:
        await store.create_run("r1", spec, Owner.new("local"))
        for task in spec.tasks:  # one run of 514 updates, two for every task
            store.set_task_state("r1", task.id, TaskState.RUNNING)
            store.set_task_state("r1", task.id, TaskState.SUCCEEDED, "done")
        attempt = Attempt(number=1, started_at=1.0)
        for task in spec.tasks:  # every attempt inserted, then replaced, in one run of writes
            store.record_attempt("r1", task.id, attempt)
        for task in spec.tasks:
            store.record_attempt("r1", task.id, attempt.model_copy(update={"state": TaskState.SUCCEEDED}))
        await store.flush()
        records = await store.task_records("r1")

    assert [record.task.id for record in records] == [task.id for task in spec.tasks]
    assert {(record.state, record.reason) for record in records} == {(TaskState.SUCCEEDED, "done")}
    assert {len(record.attempts) for record in records} == {1}
    assert {record.attempts[0].state for record in records} == {TaskState.SUCCEEDED}


async def test_a_run_stored_before_the_parallelism_cap_still_loads_and_a_new_one_is_refused(
    store_path: Path,
) -> None:
    wide = run_spec([echo_task("t1")], max_parallel=99_999_999_999)
    async with Store.open(store_path) as store:  # as an earlier version stored it: no cap then
        await store.create_run("r-old", wide, Owner.new("local"))
    async with OrchestrationService.open(store_path) as service:
        assert [run.id for run in await service.list_runs()] == ["r-old"]
        with pytest.raises(InputError, match="at most 10,000 sub-agents at once"):
            await service.submit(wide)


async def test_a_run_this_version_cannot_read_is_left_out_of_the_list_not_the_list_lost(
    store_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with Store.open(store_path) as store:
        await store.create_run("r-good", run_spec([echo_task("t1")]), Owner.new("local"))
        await store.create_run("r-bad", run_spec([echo_task("t1")]), Owner.new("local"))
    with sqlite3.connect(store_path) as db:  # as a later version, or a damaged file, might leave it
        db.execute("UPDATE runs SET spec = ? WHERE id = 'r-bad'", ('{"strategy": "teleport"}',))
    async with OrchestrationService.open(store_path) as service:
        assert [run.id for run in await service.list_runs()] == ["r-good"]
    assert "run r-bad cannot be read by this version" in caplog.text


async def test_task_engines_are_each_tasks_own_engine_in_plan_order_without_its_records(
    store_path: Path,
) -> None:
    tasks = [echo_task("a"), echo_task("b").model_copy(update={"engine": "claude-code:opus"}), echo_task("c")]
    async with Store.open(store_path) as store:
        await store.create_run("r1", run_spec(tasks), Owner.new("local"))
        engines = await store.task_engines("r1")
        records = await store.task_records("r1")

    assert list(engines.items()) == [(record.task.id, record.task.engine) for record in records]
    assert engines["b"] == "claude-code:opus"

"""Reading little over HTTP: a run's tasks changed after a cursor or a page of them, one task's own
events, and a page of the runs list, on a real daemon and store."""

from __future__ import annotations

import os
import time
from typing import Any

import anyio
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import DaemonInfo
from parallelai.models import TaskState
from parallelai.wire import TASKS_CURSOR_HEADER, RunCreated, RunOut, TaskDetail, TaskOut
from tests.orchestration._support import wait_for_state
from tests.server._support import DEADLINE_S, Harness, echo_run, parse

pytestmark = pytest.mark.anyio


def _hanging(count: int) -> dict[str, Any]:
    """`count` tasks that run until cancelled, one at a time."""
    tasks = [
        {"id": f"h{index}", "prompt": "wait", "options": {"engine_options": {"hang": True}}}
        for index in range(count)
    ]
    return {"engine": "echo", "parallel": 1, "work": {"strategy": "parallel", "tasks": tasks}}


async def _tasks(daemon: Harness, run_id: str, **query: Any) -> tuple[dict[str, TaskOut], int]:
    response = await daemon.http.get(f"/v1/runs/{run_id}/tasks", params=query)
    assert response.status_code == 200, response.text
    return {task.id: task for task in parse(response, list[TaskOut])}, int(
        response.headers[TASKS_CURSOR_HEADER]
    )


async def test_changed_after_a_cursor_answers_only_the_tasks_that_changed_since(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=_hanging(3)), RunCreated).id
        await wait_for_state(daemon.service, run_id, "h0", TaskState.RUNNING)
        everything, cursor = await _tasks(daemon, run_id)
        assert list(everything) == ["h0", "h1", "h2"]
        assert await _tasks(daemon, run_id, changed_after=cursor) == ({}, cursor)

        # Cancelling h0 lets h1 start: two tasks change, likely in one commit.
        await daemon.http.post(f"/v1/runs/{run_id}/tasks/h0/cancel")
        await wait_for_state(daemon.service, run_id, "h1", TaskState.RUNNING)
        changed, after = await _tasks(daemon, run_id, changed_after=cursor)
        now, _ = await _tasks(daemon, run_id)

        assert after > cursor
        assert list(changed) == ["h0", "h1"]
        assert changed["h0"].state is TaskState.CANCELLED
        assert changed["h1"].state is TaskState.RUNNING
        assert changed["h1"].attempts == 1
        assert changed == {task_id: now[task_id] for task_id in changed}
        assert now["h2"].state is TaskState.PENDING
        await daemon.http.post(f"/v1/runs/{run_id}/cancel")


async def test_pages_of_a_run_s_tasks_add_up_to_the_whole_list_in_plan_order(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=echo_run(7)), RunCreated).id
        await daemon.service.wait(run_id)
        whole, cursor = await _tasks(daemon, run_id)
        first, first_cursor = await _tasks(daemon, run_id, limit=3)
        rest, _ = await _tasks(daemon, run_id, offset=3)
        middle, _ = await _tasks(daemon, run_id, limit=2, offset=5)

    assert list(first) + list(rest) == list(whole)
    assert {**first, **rest} == whole
    assert list(middle) == list(whole)[5:7]
    assert first_cursor == cursor


async def test_a_bad_page_or_cursor_is_a_422_and_an_unknown_run_a_404(daemon: Harness) -> None:
    run_id = parse(await daemon.http.post("/v1/runs", json=echo_run(1)), RunCreated).id
    for query in ({"limit": 0}, {"offset": -1}, {"changed_after": "soon"}, {"page": 2}):
        response = await daemon.http.get(f"/v1/runs/{run_id}/tasks", params=query)
        assert response.status_code == 422, query
    assert (await daemon.http.get("/v1/runs/nope/tasks", params={"changed_after": 0})).status_code == 404


async def test_a_task_s_log_is_its_own_events_in_order_and_no_other_task_s(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=echo_run(4)), RunCreated).id
        await daemon.service.wait(run_id)
        events = await daemon.service.store.events_after(0, run_id)
        tasks, _ = await _tasks(daemon, run_id)
        for task_id in tasks:
            detail = parse(await daemon.http.get(f"/v1/runs/{run_id}/tasks/{task_id}"), TaskDetail)
            own = [event for event in events if getattr(event, "task_id", None) == task_id]
            assert [event.seq for event in detail.log] == [event.seq for event in own]
            assert detail.log
            assert detail.log[-1].type == "task.state"


async def test_the_runs_list_pages_by_offset_newest_first(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        for _ in range(3):
            run_id = parse(await daemon.http.post("/v1/runs", json=echo_run(1)), RunCreated).id
            await daemon.service.wait(run_id)
        newest = parse(await daemon.http.get("/v1/runs"), list[RunOut])
        second = parse(await daemon.http.get("/v1/runs", params={"limit": 1, "offset": 1}), list[RunOut])
        past_the_end = parse(await daemon.http.get("/v1/runs", params={"offset": 3}), list[RunOut])

    assert [run.id for run in second] == [newest[1].id]
    assert past_the_end == []


async def test_the_client_reads_changes_after_a_cursor_and_pages(daemon: Harness) -> None:
    info = DaemonInfo(url=daemon.url, token=daemon.token, pid=os.getpid(), store="db", started_at=time.time())
    with anyio.fail_after(DEADLINE_S):
        async with DaemonClient(info) as client:
            run_id = (await client.create_run(_hanging(2))).id
            await wait_for_state(daemon.service, run_id, "h0", TaskState.RUNNING)
            first = await client.task_page(run_id, limit=1)
            await client.cancel_task(run_id, "h0")
            await wait_for_state(daemon.service, run_id, "h1", TaskState.RUNNING)
            changed = await client.task_page(run_id, changed_after=first.cursor)
            older = await client.list_runs(limit=1, offset=1)
            await client.cancel(run_id)

    assert [task.id for task in first.tasks] == ["h0"]
    assert [(task.id, task.state) for task in changed.tasks] == [
        ("h0", TaskState.CANCELLED),
        ("h1", TaskState.RUNNING),
    ]
    assert changed.cursor > first.cursor
    assert older == []

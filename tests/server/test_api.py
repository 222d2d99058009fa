"""API round trips against a real server: runs, tasks, cancel, resume, engines, templates."""

from __future__ import annotations

import anyio
import pytest

from parallelai.events import RunFinished
from parallelai.models import RunState, TaskState
from parallelai.wire import (
    CancelTaskResult,
    EngineOut,
    Health,
    RunCreated,
    RunOut,
    RunRetried,
    TaskDetail,
    TaskOut,
    TemplateOut,
)
from tests.server._support import DEADLINE_S, Harness, collect_events, echo_run, parse

pytestmark = pytest.mark.anyio


async def test_a_run_of_echo_tasks_is_created_listed_and_reported_with_counts_and_cost(
    daemon: Harness,
) -> None:
    body = echo_run(5, name="five") | {"engines": {"echo": {"cost_per_1k_tokens": 1.0}}}
    with anyio.fail_after(DEADLINE_S):
        created = await daemon.http.post("/v1/runs", json=body)
        assert created.status_code == 201
        run_id = parse(created, RunCreated).id
        await daemon.service.wait(run_id)

        run = parse(await daemon.http.get(f"/v1/runs/{run_id}"), RunOut)
        runs = parse(await daemon.http.get("/v1/runs"), list[RunOut])
        finished = parse(await daemon.http.get("/v1/runs", params={"state": "succeeded"}), list[RunOut])
        failed = parse(await daemon.http.get("/v1/runs", params={"state": "failed"}), list[RunOut])

    assert run.state is RunState.SUCCEEDED
    assert run.name == "five"
    assert run.total == 5
    assert run.counts[TaskState.SUCCEEDED] == 5
    assert run.usage.cost_usd > 0
    assert run.finished_at is not None
    assert run.elapsed_s >= 0
    assert not run.active
    assert [r.id for r in runs] == [run_id]
    assert [r.id for r in finished] == [run_id]
    assert failed == []


async def test_tasks_are_listed_and_one_task_shows_its_attempts_result_and_log(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=echo_run(3)), RunCreated).id
        await daemon.service.wait(run_id)
        tasks = parse(await daemon.http.get(f"/v1/runs/{run_id}/tasks"), list[TaskOut])
        detail = parse(await daemon.http.get(f"/v1/runs/{run_id}/tasks/{tasks[0].id}"), TaskDetail)

    assert [task.state for task in tasks] == [TaskState.SUCCEEDED] * 3
    assert all(task.attempts == 1 for task in tasks)
    assert detail.task.id == tasks[0].id
    assert len(detail.attempts) == 1
    assert detail.result is not None
    assert detail.result.text == "echo: prompt 0"
    assert {event.type for event in detail.log} >= {"task.state", "task.output"}
    assert all(getattr(event, "task_id", None) == tasks[0].id for event in detail.log)


async def test_work_with_a_strategy_runs_as_a_dag(daemon: Harness) -> None:
    work = {
        "strategy": "dag",
        "tasks": [{"id": "a", "prompt": "A"}, {"id": "b", "prompt": "{{ output }}", "depends_on": ["a"]}],
    }
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json={"work": work}), RunCreated).id
        await daemon.service.wait(run_id)
        detail = parse(await daemon.http.get(f"/v1/runs/{run_id}/tasks/b"), TaskDetail)
    assert detail.result is not None
    assert detail.result.text == "echo: echo: A"


async def test_cancelling_a_run_stops_its_unfinished_tasks(daemon: Harness) -> None:
    body = echo_run(4) | {"engines": {"echo": {"hang": True}}}
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
        cancelled = await daemon.http.post(f"/v1/runs/{run_id}/cancel")
    run = parse(cancelled, RunOut)
    assert run.state is RunState.CANCELLED
    assert run.counts[TaskState.CANCELLED] == 4
    assert not run.active


async def test_cancelling_one_task_leaves_the_others_running_to_success(daemon: Harness) -> None:
    work = {
        "strategy": "parallel",
        "tasks": [
            {"id": "stuck", "prompt": "x", "options": {"retries": 0, "engine_options": {"hang": True}}},
            {"id": "fine", "prompt": "y"},
        ],
    }
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json={"work": work}), RunCreated).id
        await collect_events(
            daemon.http,
            f"/v1/runs/{run_id}/events",
            lambda e: (
                getattr(e, "task_id", None) == "stuck" and getattr(e, "state", None) is TaskState.RUNNING
            ),
        )
        result = parse(await daemon.http.post(f"/v1/runs/{run_id}/tasks/stuck/cancel"), CancelTaskResult)
        summary = await daemon.service.wait(run_id)
        tasks = {
            task.id: task for task in parse(await daemon.http.get(f"/v1/runs/{run_id}/tasks"), list[TaskOut])
        }
    assert result.cancelled
    assert tasks["stuck"].state is TaskState.CANCELLED
    assert tasks["fine"].state is TaskState.SUCCEEDED
    assert summary.state is not RunState.RUNNING


async def test_retrying_a_run_reruns_only_what_had_not_succeeded_and_resume_leaves_it_alone(
    daemon: Harness,
) -> None:
    # fail_fast: the failing task stops the run while the slow one is still going.
    work = {
        "strategy": "parallel",
        "tasks": [
            {"id": "bad", "prompt": "x", "options": {"retries": 0, "engine_options": {"fail_attempts": 1}}},
            {"id": "slow", "prompt": "y", "options": {"engine_options": {"latency": 0.5}}},
        ],
    }
    body = {"work": work, "fail_fast": True}
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
        await daemon.service.wait(run_id)
        before = {
            task.id: task for task in parse(await daemon.http.get(f"/v1/runs/{run_id}/tasks"), list[TaskOut])
        }
        resumed = await daemon.http.post(f"/v1/runs/{run_id}/resume")
        assert resumed.status_code == 200
        assert parse(resumed, RunOut).state is RunState.FAILED  # finished: resume changes nothing
        retried = parse(
            await daemon.http.post(f"/v1/runs/{run_id}/retry", json={"tasks": ["slow"]}), RunRetried
        )
        assert retried.retried == 1
        await daemon.service.wait(run_id)
        after = {
            task.id: task for task in parse(await daemon.http.get(f"/v1/runs/{run_id}/tasks"), list[TaskOut])
        }
    assert before["slow"].state in (TaskState.CANCELLED, TaskState.SKIPPED)
    assert after["slow"].state is TaskState.SUCCEEDED
    assert after["bad"].state is TaskState.FAILED
    assert after["bad"].attempts == 1  # a finished task is never run again


async def test_engines_templates_and_health_are_listed(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        engines = parse(await daemon.http.get("/v1/engines"), list[EngineOut])
        templates = parse(await daemon.http.get("/v1/templates"), list[TemplateOut])
        health = parse(await daemon.http.get("/v1/health"), Health)
    echo = next(engine for engine in engines if engine.name == "echo")
    assert echo.available
    review = next(template for template in templates if template.name == "code_review")
    assert "checklist" in review.params
    assert [param.name for param in review.parameters] == review.params
    assert {"security_audit", "migration", "configuration"} <= {template.name for template in templates}
    assert health.status == "ok"


async def test_the_run_stream_ends_its_history_with_run_finished(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=echo_run(2)), RunCreated).id
        events = await collect_events(
            daemon.http, f"/v1/runs/{run_id}/events", lambda e: isinstance(e, RunFinished)
        )
    assert events[0].type == "run.created"
    assert [event.seq for event in events] == sorted(event.seq for event in events)

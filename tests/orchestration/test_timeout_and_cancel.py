"""Timeouts and cancellation stop the agent, including every process it started."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from parallelai.errors import TaskNotFoundError
from parallelai.events import TaskRetrying
from parallelai.models import ErrorKind, RunSpec, RunState, Task, TaskOptions, TaskState
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import (
    DEADLINE_S,
    echo_task,
    run_spec,
    run_to_end,
    wait_for_event,
    wait_for_state,
)

pytestmark = pytest.mark.anyio

# The shell starts a grandchild in the background, records its pid, then waits for it forever.
SPAWN_GRANDCHILD = "sleep 300 & echo $! > {pidfile}; wait"


def _gone(pid: int) -> bool:
    """True when `pid` no longer runs: it does not exist, or is a zombie waiting for its reaper."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}


async def _poll_until(condition: Callable[[], bool]) -> None:
    # The OS offers no event for "a file appeared" or "a process is gone", so poll, under a deadline.
    with anyio.fail_after(DEADLINE_S):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def _assert_gone(pid: int) -> None:
    # The kill is sent before the engine returns; exiting can still take the kernel a moment.
    await _poll_until(lambda: _gone(pid))


def _grandchild_task(task_id: str, pidfile: Path, **options: object) -> Task:
    return Task(
        id=task_id,
        prompt="wait",
        engine="command",
        options=TaskOptions(
            engine_options={"shell": SPAWN_GRANDCHILD.format(pidfile=pidfile), "kill_grace_s": 0.2}, **options
        ),
    )


async def test_a_timeout_kills_the_command_s_whole_process_group_including_a_grandchild(
    service: OrchestrationService, tmp_path: Path
) -> None:
    pidfile = tmp_path / "grandchild.pid"
    spec = RunSpec(tasks=[_grandchild_task("sleeper", pidfile, timeout=0.5, retries=0)])

    summary, _ = await run_to_end(service, spec)

    assert summary.state is RunState.FAILED
    record = await service.task(summary.id, "sleeper")
    assert record.state is TaskState.FAILED
    assert record.result is not None
    assert record.result.error is not None
    assert record.result.error.kind is ErrorKind.TIMEOUT
    assert "timed out" in (record.reason or "")
    await _assert_gone(int(pidfile.read_text()))


async def test_a_timed_out_attempt_is_retried(service: OrchestrationService) -> None:
    task = echo_task("stuck", hang=True, retries=1).model_copy(
        update={"options": TaskOptions(timeout=0.05, retries=1, engine_options={"hang": True})}
    )

    summary, _ = await run_to_end(service, run_spec([task]))

    record = await service.task(summary.id, "stuck")
    assert record.state is TaskState.FAILED
    assert [attempt.error.kind for attempt in record.attempts if attempt.error] == [ErrorKind.TIMEOUT] * 2


async def test_cancelling_a_run_cancels_running_and_waiting_tasks(service: OrchestrationService) -> None:
    spec = run_spec([echo_task(f"h{i}", hang=True) for i in range(4)], max_parallel=2)
    run_id = await service.submit(spec)
    await wait_for_state(service, run_id, "h0", TaskState.RUNNING)
    await wait_for_state(service, run_id, "h1", TaskState.RUNNING)

    with anyio.fail_after(DEADLINE_S):
        summary = await service.cancel(run_id)

    assert summary.state is RunState.CANCELLED
    assert summary.counts[TaskState.CANCELLED] == 4
    assert "cancel" in (summary.note or "")
    assert not service.is_active(run_id)
    records = await service.tasks(run_id)
    assert all(record.state is TaskState.CANCELLED for record in records)
    # Only the two that were running ever had an attempt.
    assert sorted(record.task.id for record in records if record.attempts) == ["h0", "h1"]


async def test_cancelling_a_run_kills_its_command_process_trees(
    service: OrchestrationService, tmp_path: Path
) -> None:
    pidfiles = [tmp_path / f"{i}.pid" for i in range(2)]
    run_id = await service.submit(
        RunSpec(tasks=[_grandchild_task(f"c{i}", p) for i, p in enumerate(pidfiles)])
    )
    await _poll_until(lambda: all(p.exists() and p.read_text().strip() for p in pidfiles))

    with anyio.fail_after(DEADLINE_S):
        summary = await service.cancel(run_id)

    assert summary.state is RunState.CANCELLED
    for pidfile in pidfiles:
        await _assert_gone(int(pidfile.read_text()))


async def test_cancelling_one_running_task_skips_its_dependents_and_leaves_the_rest(
    service: OrchestrationService,
) -> None:
    spec = run_spec(
        [echo_task("stuck", hang=True), echo_task("after", depends_on=["stuck"]), echo_task("other")]
    )
    run_id = await service.submit(spec)
    await wait_for_state(service, run_id, "stuck", TaskState.RUNNING)

    assert await service.cancel_task(run_id, "stuck") is True
    with anyio.fail_after(DEADLINE_S):
        summary = await service.wait(run_id)

    records = {record.task.id: record for record in await service.tasks(run_id)}
    assert records["stuck"].state is TaskState.CANCELLED
    assert records["stuck"].reason == "cancelled by request"
    assert records["after"].state is TaskState.SKIPPED
    assert "stuck" in (records["after"].reason or "")
    assert records["other"].state is TaskState.SUCCEEDED
    assert summary.state is RunState.FAILED


async def test_cancelling_a_task_that_has_not_started_means_it_never_runs(
    service: OrchestrationService,
) -> None:
    spec = run_spec([echo_task("gate", hang=True), echo_task("queued"), echo_task("later", depends_on=["queued"])],
                    max_parallel=1)  # fmt: skip
    run_id = await service.submit(spec)
    await wait_for_state(service, run_id, "gate", TaskState.RUNNING)

    assert await service.cancel_task(run_id, "queued") is True
    assert await service.cancel_task(run_id, "gate") is True
    with anyio.fail_after(DEADLINE_S):
        await service.wait(run_id)

    records = {record.task.id: record for record in await service.tasks(run_id)}
    assert records["queued"].state is TaskState.CANCELLED
    assert records["queued"].attempts == []
    assert records["later"].state is TaskState.SKIPPED


async def test_cancelling_an_unknown_task_or_a_finished_one_says_so(service: OrchestrationService) -> None:
    run_id = await service.submit(run_spec([echo_task("stuck", hang=True), echo_task("quick")]))
    await wait_for_state(service, run_id, "quick", TaskState.SUCCEEDED)

    with pytest.raises(TaskNotFoundError):
        await service.cancel_task(run_id, "nope")
    assert await service.cancel_task(run_id, "quick") is False
    await service.cancel(run_id)
    assert await service.cancel_task(run_id, "stuck") is False


async def test_a_cancelled_run_can_be_retried_to_completion(service: OrchestrationService) -> None:
    spec = run_spec([echo_task(f"t{i}", latency=0.2) for i in range(3)], max_parallel=3)
    run_id = await service.submit(spec)
    for i in range(3):
        await wait_for_state(service, run_id, f"t{i}", TaskState.RUNNING)
    cancelled = await service.cancel(run_id)
    assert cancelled.counts[TaskState.CANCELLED] == 3

    with anyio.fail_after(DEADLINE_S):
        assert await service.retry(run_id) == 3
        summary = await service.wait(run_id)

    assert summary.state is RunState.SUCCEEDED
    assert summary.counts[TaskState.SUCCEEDED] == 3
    # The interrupted attempt is kept; the resumed one is the next number.
    records = await service.tasks(run_id)
    assert all([a.state for a in r.attempts] == [TaskState.CANCELLED, TaskState.SUCCEEDED] for r in records)


async def test_a_run_cancelled_as_its_tasks_are_dispatched_still_ends_with_all_cancelled(
    service: OrchestrationService,
) -> None:
    run_id = await service.submit(run_spec([echo_task(f"h{i}", hang=True) for i in range(3)]))
    # One turn of the loop: the run dispatches its tasks, but no attempt has taken a step yet,
    # so the cancel lands before any engine has started.
    await anyio.lowlevel.checkpoint()

    with anyio.fail_after(DEADLINE_S):
        summary = await service.cancel(run_id)

    assert summary.state is RunState.CANCELLED
    assert summary.counts[TaskState.CANCELLED] == 3
    assert all(record.attempts == [] for record in await service.tasks(run_id))


async def test_cancelling_a_task_that_waits_to_retry_ends_it_and_skips_its_dependents(
    service: OrchestrationService,
) -> None:
    spec = run_spec([echo_task("waiting", fail_attempts=1, failure_kind="overloaded", retry_after=600),
                     echo_task("after", depends_on=["waiting"])])  # fmt: skip
    run_id = await service.submit(spec)
    await wait_for_event(service, run_id, TaskRetrying)

    assert await service.cancel_task(run_id, "waiting") is True
    with anyio.fail_after(DEADLINE_S):
        await service.wait(run_id)

    records = {record.task.id: record for record in await service.tasks(run_id)}
    assert records["waiting"].state is TaskState.CANCELLED
    assert len(records["waiting"].attempts) == 1
    assert records["after"].state is TaskState.SKIPPED


async def test_a_timeout_stays_a_timeout_when_the_run_is_cancelled_while_the_agent_winds_down(
    service: OrchestrationService,
) -> None:
    # The command ignores SIGTERM (and so does its `sleep`), so after its deadline it takes the
    # whole grace period to go; the run is cancelled in the middle of that.
    task = Task(
        id="slow-to-stop",
        prompt="x",
        engine="command",
        options=TaskOptions(
            timeout=0.2,
            retries=0,
            engine_options={"shell": "trap '' TERM; sleep 30", "kill_grace_s": 2.0},
        ),
    )
    run_id = await service.submit(RunSpec(tasks=[task]))
    await wait_for_state(service, run_id, "slow-to-stop", TaskState.RUNNING)
    await anyio.sleep(0.7)  # well past the deadline, well inside the grace period

    summary = await service.cancel(run_id)

    assert summary.state is RunState.CANCELLED
    record = await service.task(run_id, "slow-to-stop")
    assert [attempt.error.kind for attempt in record.attempts if attempt.error] == [ErrorKind.TIMEOUT]

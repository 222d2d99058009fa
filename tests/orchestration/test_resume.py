"""A run survives a SIGKILL of its process: `resume` re-runs nothing finished and loses nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from anyio.streams.text import TextReceiveStream

from parallelai.events import RunStarted, TaskStateChanged
from parallelai.models import RunState, TaskState
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import (
    DEADLINE_S,
    echo_task,
    peak_running,
    run_spec,
    run_to_end,
    wait_for_state,
)

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).with_name("_killable_run.py")
TASKS = 40


async def _start_run_and_kill_it(store_path: Path, kill_after: int) -> str:
    """Run TASKS echo tasks in a child process and SIGKILL it once `kill_after` have succeeded and
    another is running (its attempt stored): the kill then always cuts an attempt off."""
    process = await anyio.open_process(
        [sys.executable, str(CHILD), str(store_path), str(TASKS), "0.3", "4"], stderr=subprocess.STDOUT
    )
    run_id = ""
    succeeded = 0
    running: set[str] = set()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        with anyio.fail_after(30):  # the child imports and opens its store first
            buffered = ""
            async for chunk in TextReceiveStream(process.stdout):
                buffered += chunk
                *complete, buffered = buffered.split("\n")
                for line in complete:
                    lines.append(line)
                    kind, _, value = line.partition(" ")
                    if kind == "run":
                        run_id = value
                    elif kind == "running":
                        running.add(value)
                    elif kind == "succeeded":
                        succeeded += 1
                        running.discard(value)
                if succeeded >= kill_after and running:
                    break
            else:
                raise AssertionError("the child ended early:\n" + "\n".join(lines))
    finally:
        process.send_signal(signal.SIGKILL)
        with anyio.CancelScope(shield=True):
            await process.wait()
            await process.aclose()
    assert process.returncode == -signal.SIGKILL
    return run_id


async def test_resuming_a_run_killed_with_sigkill_reruns_no_finished_task_and_loses_none(
    store_path: Path,
) -> None:
    run_id = await _start_run_and_kill_it(store_path, kill_after=8)

    async with OrchestrationService.open(store_path) as service:
        before = {record.task.id: record for record in await service.tasks(run_id)}
        last_seq_before = await service.store.last_seq()
        done_before = {task_id for task_id, record in before.items() if record.state is TaskState.SUCCEEDED}
        found = await service.summary(run_id)
        # Opening the store found the run's process dead and closed what it left.
        assert found.state is RunState.INTERRUPTED
        assert "stopped without finishing it" in (found.note or "")
        assert found.executed_by is None
        cut_off = [
            r.attempts[-1] for r in before.values() if r.attempts and r.state is not TaskState.SUCCEEDED
        ]
        assert cut_off
        assert all(a.state is TaskState.INTERRUPTED and a.finished_at for a in cut_off)
        assert not [r for r in before.values() if r.state in (TaskState.RUNNING, TaskState.READY)]
        assert len(before) == TASKS
        assert 0 < len(done_before) < TASKS

        with anyio.fail_after(DEADLINE_S):
            await service.resume(run_id)
            summary = await service.wait(run_id)

        after = {record.task.id: record for record in await service.tasks(run_id)}
        events = await service.store.events_after(last_seq_before, run_id)

    assert summary.state is RunState.SUCCEEDED
    assert summary.counts[TaskState.SUCCEEDED] == TASKS
    assert set(after) == set(before)
    for task_id, record in after.items():
        assert record.state is TaskState.SUCCEEDED
        assert record.result is not None
        assert record.result.text == f"echo: do {task_id}"
        assert record.attempts[-1].state is TaskState.SUCCEEDED
        if task_id in done_before:
            # Not a single extra attempt for a task that had finished before the kill.
            assert record.attempts == before[task_id].attempts
        else:
            # An attempt cut off by the kill stays on record; the resumed attempt comes after it.
            assert len(record.attempts) == len(before[task_id].attempts) + 1
    started = [event for event in events if isinstance(event, RunStarted)]
    assert len(started) == 1
    assert started[0].resumed
    assert started[0].requeued == TASKS - len(done_before)
    rerun = {e.task_id for e in events if isinstance(e, TaskStateChanged) and e.state is TaskState.RUNNING}
    assert rerun == set(before) - done_before
    assert all(event.seq > last_seq_before for event in events)


async def test_resuming_a_finished_run_changes_nothing(service: OrchestrationService) -> None:
    summary, events = await run_to_end(service, run_spec([echo_task("only")]))

    assert await service.resume(summary.id) == summary.id
    await service.wait(summary.id)

    assert await service.store.events_after(events[-1].seq, summary.id) == []
    assert len((await service.task(summary.id, "only")).attempts) == 1


async def test_a_failed_task_is_not_retried_on_resume_and_its_dependents_stay_skipped(
    service: OrchestrationService,
) -> None:
    spec = run_spec(
        [echo_task("broken", fail_attempts=1, failure_kind="auth"), echo_task("next", depends_on=["broken"])]
    )
    summary, _ = await run_to_end(service, spec)

    with anyio.fail_after(DEADLINE_S):
        await service.resume(summary.id)
        resumed = await service.wait(summary.id)

    assert resumed == summary
    assert resumed.state is RunState.FAILED
    records = {record.task.id: record for record in await service.tasks(summary.id)}
    assert records["broken"].state is TaskState.FAILED
    assert len(records["broken"].attempts) == 1
    assert records["next"].state is TaskState.SKIPPED
    assert records["next"].attempts == []


async def _interrupted_run(store_path: Path, use_cache: bool = True) -> tuple[str, int]:
    """Start a run and close the service while it is going; returns its id and how many finished."""
    async with OrchestrationService.open(store_path) as service:
        spec = run_spec(
            [echo_task("quick"), *(echo_task(f"slow{i}", latency=0.15) for i in range(4))], max_parallel=2
        )
        run_id = await service.submit(spec.model_copy(update={"use_cache": use_cache}))
        await wait_for_state(service, run_id, "quick", TaskState.SUCCEEDED)
        await wait_for_state(service, run_id, "slow0", TaskState.RUNNING)
    return run_id, 1


@pytest.mark.parametrize("use_cache", [True, False])
async def test_closing_the_service_mid_run_leaves_it_interrupted_and_resume_finishes_it(
    store_path: Path, use_cache: bool
) -> None:
    run_id, _ = await _interrupted_run(store_path, use_cache)

    async with OrchestrationService.open(store_path) as service:
        before = {record.task.id: record for record in await service.tasks(run_id)}
        events = await service.store.events_after(0, run_id)
        interrupted = await service.summary(run_id)
        with anyio.fail_after(DEADLINE_S):
            await service.resume(run_id)
            summary = await service.wait(run_id)
        after = {record.task.id: record for record in await service.tasks(run_id)}

    assert interrupted.state is RunState.INTERRUPTED
    assert before["quick"].state is TaskState.SUCCEEDED
    # Closing started nothing new: no more attempts were cut off than the run's limit, and each
    # was closed as interrupted, its task with it.
    in_flight = [
        task_id
        for task_id, record in before.items()
        if record.attempts and record.attempts[-1].state is TaskState.INTERRUPTED
    ]
    assert 1 <= len(in_flight) <= 2
    assert all(before[task_id].state is TaskState.INTERRUPTED for task_id in in_flight)
    assert not [r for r in before.values() if r.attempts and r.attempts[-1].state is TaskState.RUNNING]
    assert peak_running(events) <= 2
    assert summary.state is RunState.SUCCEEDED
    assert after["quick"].attempts == before["quick"].attempts


async def test_cancelling_a_run_no_process_is_running_marks_it_cancelled(store_path: Path) -> None:
    run_id, _ = await _interrupted_run(store_path)

    async with OrchestrationService.open(store_path) as service:
        summary = await service.cancel(run_id)
        records = await service.tasks(run_id)

    assert summary.state is RunState.CANCELLED
    assert {record.task.id: record.state for record in records} == {
        "quick": TaskState.SUCCEEDED,
        **{f"slow{i}": TaskState.CANCELLED for i in range(4)},
    }

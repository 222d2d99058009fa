"""Waiting for a run while telling the caller how far it has got (tasks done / total)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager

import anyio

from parallelai.events import TaskStateChanged
from parallelai.models import RunSummary, TaskState
from parallelai.orchestration.service import CANCEL_WAIT_S, OrchestrationService

Report = Callable[[int, int, str], Awaitable[None]]
ABANDONED_REASON = "cancelled: the MCP client cancelled the start_run call waiting for it"


class _Tally:
    """Which tasks are final and which failed; reports only when more tasks are done.

    MCP requires each progress value to be larger than the last, and a replayed history can
    briefly step back (a task seen finished in a snapshot is replayed from `running`), so only
    increases are reported.
    """

    def __init__(self, report: Report, total: int) -> None:
        self._report = report
        self.total = total
        self.final: set[str] = set()
        self.failed: set[str] = set()
        self._reported: int | None = None

    def update(self, task_id: str, state: TaskState) -> None:
        if state.is_final:
            self.final.add(task_id)
        else:
            self.final.discard(task_id)
        if state is TaskState.FAILED:
            self.failed.add(task_id)
        else:
            self.failed.discard(task_id)

    async def report(self, done: int | None = None, failed: int | None = None) -> None:
        done = len(self.final) if done is None else done
        failed = len(self.failed) if failed is None else failed
        if self._reported is not None and done <= self._reported:
            return
        self._reported = done
        message = f"{done}/{self.total} tasks done" + (f", {failed} failed" if failed else "")
        await self._report(done, self.total, message)


async def wait_with_progress(
    service: OrchestrationService,
    run_id: str,
    report: Report,
    after_seq: int | None = None,
    max_wait_s: float | None = None,
) -> RunSummary:
    """Block until the run finishes (or `max_wait_s` passes), reporting each change in tasks done.

    Cancelling the caller cancels only this wait: the run belongs to the service's task group.
    `after_seq` is the bus position before the run was submitted, when the caller has it: the
    whole history is then replayed and the count climbs from zero.
    """
    after = service.bus.last_seq if after_seq is None else after_seq
    summary = await service.summary(run_id)
    if summary.executed_by is None:
        return summary
    records = await service.tasks(run_id)
    tally = _Tally(report, len(records))
    if after_seq is None:
        # Joining a run midway: start from what the store says, then follow what happens next.
        for record in records:
            tally.update(record.task.id, record.state)

    async def follow() -> None:
        async with aclosing(service.events(after, run_id)) as events:
            async for event in events:
                if isinstance(event, TaskStateChanged):
                    tally.update(event.task_id, event.state)
                    await tally.report()

    await tally.report()
    with anyio.move_on_after(max_wait_s):
        async with anyio.create_task_group() as group:
            group.start_soon(follow)
            # The service, not the event stream, says when the run is over: a RunFinished
            # published just before we subscribed would otherwise be missed.
            await service.wait(run_id)
            group.cancel_scope.cancel()
    summary = await service.summary(run_id)
    final = sum(count for state, count in summary.counts.items() if state.is_final)
    await tally.report(final, summary.counts.get(TaskState.FAILED, 0))
    return summary


@asynccontextmanager
async def run_cancelled_if_abandoned(service: OrchestrationService, run_id: str) -> AsyncIterator[None]:
    """Cancel the run when the caller gives up on this block: its request was cancelled
    (`notifications/cancelled`) or its session went away.

    Only for the call that started the run: nobody else is waiting for its answers then. The scope
    is already cancelled, so the cancel runs shielded (bounded, like a cancel of another process's
    run), and the cancellation goes on up once the run has stopped.
    """
    try:
        yield
    except anyio.get_cancelled_exc_class():
        with anyio.move_on_after(CANCEL_WAIT_S, shield=True):
            await service.cancel(run_id, ABANDONED_REASON)
        raise

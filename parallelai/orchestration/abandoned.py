"""Runs nobody executes any more: what a dead owner left running is stopped, its cut-off attempts
are closed, and the run is settled as `interrupted` (to be resumed) or `cancelled`.

The caller holds the run's lease, so nothing else writes the run meanwhile.
"""

from __future__ import annotations

import time

from parallelai.engines.agent_tags import stop_tagged
from parallelai.events import RunFinished, TaskStateChanged
from parallelai.models import RunState, TaskState
from parallelai.orchestration.bus import EventBus
from parallelai.orchestration.lease import Owner
from parallelai.orchestration.store import Store

AGENT_STOP_GRACE_S = 2.0  # SIGTERM to SIGKILL, for the agents of a process that died


async def stop_agents(owner: Owner, run_id: str) -> None:
    """Stop every process still tagged with `owner`'s attempts of the run (its warden may be gone)."""
    await stop_tagged(f"{owner.tag}/{run_id}", AGENT_STOP_GRACE_S)


async def close_abandoned(
    store: Store, bus: EventBus, run_id: str, state: RunState, owner: Owner | None, *, announce: bool
) -> None:
    """What a dead owner (or, for a store from before leases, an unknown process) left: its agents
    stopped, its cut-off attempts closed and the run `interrupted`. `announce` publishes that as the
    run's `run.finished` (not when the run continues at once)."""
    if owner is not None:
        await stop_agents(owner, run_id)
    if state in (RunState.PENDING, RunState.RUNNING):  # else it was closed before its process died
        why = f"{owner.describe() if owner else 'its process'} stopped without finishing it"
        await close_run(store, bus, run_id, RunState.INTERRUPTED, why, announce=announce)


async def close_run(
    store: Store, bus: EventBus, run_id: str, state: RunState, note: str, *, announce: bool = True
) -> None:
    """Settle a run nobody executes: attempts in flight were cut off; with `cancelled`, every
    unfinished task is cancelled, else it waits, `interrupted` or `pending`, to be resumed."""
    now = time.time()
    for record in await store.task_records(run_id):
        for attempt in record.attempts:
            if attempt.state is TaskState.RUNNING:
                closed = attempt.model_copy(update={"state": TaskState.INTERRUPTED, "finished_at": now})
                store.record_attempt(run_id, record.task.id, closed)
        if record.state.is_final:
            continue
        new = TaskState.CANCELLED if state is RunState.CANCELLED else record.state.after_interruption
        if new is record.state:
            continue
        reason = None if new is TaskState.PENDING else note
        store.set_task_state(run_id, record.task.id, new, reason)
        bus.publish(
            TaskStateChanged(
                run_id=run_id, task_id=record.task.id, state=new, attempt=len(record.attempts), reason=reason
            )
        )
    store.set_run_state(run_id, state, note)
    if not announce:
        return
    await store.flush()
    totals = await store.run_totals(run_id)
    bus.publish(
        RunFinished(
            run_id=run_id,
            state=state,
            counts=totals.counts,
            usage=totals.usage,
            reused=totals.reused,
            note=note,
        )
    )

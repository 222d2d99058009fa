"""Running a planned run to its end on a service, and reading what the store kept of it."""

from __future__ import annotations

import sqlite3
from contextlib import aclosing
from pathlib import Path
from typing import Any

import anyio

from parallelai.events import Event, RunFinished, TaskActivity
from parallelai.models import RunSpec, RunSummary
from parallelai.orchestration.service import OrchestrationService
from parallelai.planning import plan_request
from parallelai.run_request import build_request

DEADLINE_S = 60.0  # a first run on the cluster starts its runners' processes


async def run_to_end(service: OrchestrationService, spec: RunSpec) -> tuple[RunSummary, list[Event]]:
    """Submit `spec`, follow its events to its end (under a deadline); its summary and events."""
    after = service.bus.last_seq
    events: list[Event] = []
    with anyio.fail_after(DEADLINE_S):
        run_id = await service.submit(spec)
        async with aclosing(service.events(after, run_id)) as stream:
            async for event in stream:
                events.append(event)
                if isinstance(event, RunFinished):
                    break
        return await service.wait(run_id), events


def planned(**fields: Any) -> RunSpec:
    """A run planned as a surface plans it (`work` is a tasks file's content)."""
    return plan_request(build_request(**fields))


def nodes_of(events: list[Event]) -> dict[str, list[str]]:
    """Per task, the Ray node of each of its attempts, in order (the `node` activity)."""
    found: dict[str, list[str]] = {}
    for event in events:
        if isinstance(event, TaskActivity) and event.kind == "node":
            found.setdefault(event.task_id, []).append(event.detail.rsplit(" ", 1)[-1])
    return found


def rows(store_path: Path, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """What the run's SQLite store holds, read as another process would."""
    with sqlite3.connect(store_path) as connection:
        return list(connection.execute(query, args))

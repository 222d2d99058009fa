"""The adaptive controller wired to one run: its clock, the machine's headroom, its events.

`adaptive.py` decides without I/O; this is where the decisions get their inputs (how long an
attempt took, how many attempts run, the machine's reading) and leave as `concurrency.changed`
events. The scheduler calls `begin` as an attempt starts and `end` once its result is in, before
its slot is given back, so the next start already obeys what the attempt taught.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from parallelai.events import ConcurrencyChanged
from parallelai.models import RunSpec, TaskResult
from parallelai.orchestration.adaptive import AdaptiveConcurrency, Change, engine_ceilings, headroom
from parallelai.orchestration.admission import Admission
from parallelai.orchestration.machine import MachineProbe


def controller_for(spec: RunSpec, engines: set[str]) -> AdaptiveConcurrency | None:
    """The run's controller under the adaptive strategy, over the engines its tasks use; else None."""
    if spec.strategy != "adaptive":
        return None
    limits = spec.limits
    return AdaptiveConcurrency(engine_ceilings(engines, limits.max_parallel, limits.per_engine))


@dataclass(frozen=True, slots=True)
class Ticket:
    """An attempt as it started: its engine, its admission (the controller's epoch, its place among
    the engine's running attempts), and when."""

    engine: str
    epoch: int
    place: int
    began: float


class AdaptiveRun:
    def __init__(self, run_id: str, controller: AdaptiveConcurrency, admission: Admission) -> None:
        self._run_id = run_id
        self._controller = controller
        self._admission = admission
        self._machine = MachineProbe()

    def start(self) -> list[ConcurrencyChanged]:
        return [self._event(change) for change in self._controller.start()]

    def begin(self, task_id: str, engine: str) -> Ticket:
        return Ticket(engine, *self._admission.admitted(task_id), time.monotonic())

    def end(self, ticket: Ticket, result: TaskResult) -> tuple[ConcurrencyChanged | None, float]:
        """What the attempt changed (as an event), and how long its engine is now paused (seconds)."""
        now = time.monotonic()
        engine, controller, admission = ticket.engine, self._controller, self._admission
        change = controller.observe(
            engine,
            result,
            epoch=ticket.epoch,
            place=ticket.place,
            latency_s=now - ticket.began,
            now=now,
            machine=headroom(self._machine.read(now), admission.running_total),
            saturated=admission.running(engine) >= controller.limit(engine),
        )
        return (self._event(change) if change else None), controller.pause_left(engine, now)

    def _event(self, change: Change) -> ConcurrencyChanged:
        return ConcurrencyChanged(
            run_id=self._run_id, engine=change.engine, old=change.old, limit=change.new, reason=change.reason
        )

"""The scheduler's working state for each task of a run, and what a resumed run starts from.

A task's slot is its place in the scheduler, not one of the run's concurrency slots (those are
`Admission`'s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from parallelai.models import Attempt, EngineSpec, RunSpec, Task, TaskState, Usage
from parallelai.orchestration.engine_call import StopHandle


@dataclass(slots=True)
class TaskSlot:
    """The scheduler's working state for one task."""

    task: Task
    engine: EngineSpec
    state: TaskState = TaskState.PENDING
    waiting_on: int = 0
    attempts: int = 0
    output: str = ""
    stop: StopHandle = field(default_factory=StopHandle)
    queued: bool = False  # waiting in a ready queue for a slot
    dependents: list[str] = field(default_factory=list)
    attempt: Attempt | None = None  # the attempt in flight


@dataclass(frozen=True, slots=True)
class Resumption:
    """What a resumed run already has: final states, outputs for dependents, attempts used; and
    the tasks to run again whatever their state (a retry's)."""

    states: Mapping[str, TaskState]
    outputs: Mapping[str, str]
    attempts: Mapping[str, int]
    spent: Usage
    reused: int
    again: frozenset[str] = frozenset()


def build_slots(spec: RunSpec) -> dict[str, TaskSlot]:
    """A slot for each task, in the plan's order, each knowing the tasks that depend on it."""
    slots: dict[str, TaskSlot] = {}
    engine_specs: dict[str, EngineSpec] = {}  # a plan names a few engines, each many times
    for task in spec.tasks:
        name = task.engine or spec.default_engine
        engine = engine_specs.get(name)
        if engine is None:
            engine = engine_specs[name] = EngineSpec.parse(name)
        slots[task.id] = TaskSlot(task, engine)
    for task in spec.tasks:
        for dependency in task.depends_on:
            slots[dependency].dependents.append(task.id)
    return slots


def restore(slots: Mapping[str, TaskSlot], resumption: Resumption | None) -> list[str]:
    """Set the slots where the run starts from: with a resumption, succeeded and failed tasks are
    kept (unless run again) and the rest re-queued; then each pending task counts the dependencies
    it waits for. Returns the re-queued tasks."""
    requeued = []
    if resumption is not None:
        for task_id, slot in slots.items():
            previous = resumption.states.get(task_id, TaskState.PENDING)
            if previous in (TaskState.SUCCEEDED, TaskState.FAILED) and task_id not in resumption.again:
                slot.state = previous
                slot.output = resumption.outputs.get(task_id, "")
            else:
                requeued.append(task_id)
            slot.attempts = resumption.attempts.get(task_id, 0)
    for slot in slots.values():
        if slot.state is TaskState.PENDING and slot.task.depends_on:
            slot.waiting_on = sum(
                1 for dep in slot.task.depends_on if slots[dep].state is not TaskState.SUCCEEDED
            )
    return requeued

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
    engine: EngineSpec  # the engine its next attempt runs on
    fallbacks: tuple[EngineSpec, ...] = ()  # where it moves next, in order, if `engine` refuses it
    state: TaskState = TaskState.PENDING
    waiting_on: int = 0
    attempts: int = 0
    tries_here: int = 0  # of `attempts`, those on `engine`: each engine has the task's retries
    moved: bool = False  # on a fallback: the task's `engine_options` were meant for its own engine
    output: str = ""
    stop: StopHandle = field(default_factory=StopHandle)
    queued: bool = False  # waiting in a ready queue for a slot
    dependents: list[str] = field(default_factory=list)
    attempt: Attempt | None = None  # the attempt in flight

    @property
    def fallback(self) -> EngineSpec | None:
        """The engine the task moves to if its engine refuses it for good; None when none is left."""
        return self.fallbacks[0] if self.fallbacks else None

    def fail_over(self) -> None:
        """The task's next attempt runs on its next engine, with that engine's retries."""
        self.engine, self.fallbacks = self.fallbacks[0], self.fallbacks[1:]
        self.tries_here = 0
        self.moved = True


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
    # By task: the engine (`name[:model]`) its last attempt ran on, and how many attempts in a row
    # ran there; a resumed task goes on where it had failed over to.
    engines: Mapping[str, tuple[str, int]] = field(default_factory=dict)


def build_slots(spec: RunSpec) -> dict[str, TaskSlot]:
    """A slot for each task, in the plan's order, each knowing the tasks that depend on it."""
    slots: dict[str, TaskSlot] = {}
    engine_specs: dict[str, EngineSpec] = {}  # a plan names a few engines, each many times

    def parsed(name: str) -> EngineSpec:
        engine = engine_specs.get(name)
        if engine is None:
            engine = engine_specs[name] = EngineSpec.parse(name)
        return engine

    run_fallbacks = tuple(parsed(name) for name in spec.fallbacks)
    for task in spec.tasks:
        # A task naming its own engine has its own fallbacks; one that does not backs the run's
        # engine with the run's, unless it lists its own.
        if task.fallbacks:
            fallbacks = tuple(parsed(name) for name in task.fallbacks)
        else:
            fallbacks = () if task.engine is not None else run_fallbacks
        slots[task.id] = TaskSlot(task, parsed(task.engine or spec.default_engine), fallbacks)
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
            _resume_engine(slot, *resumption.engines.get(task_id, (str(slot.engine), slot.attempts)))
    for slot in slots.values():
        if slot.state is TaskState.PENDING and slot.task.depends_on:
            slot.waiting_on = sum(
                1 for dep in slot.task.depends_on if slots[dep].state is not TaskState.SUCCEEDED
            )
    return requeued


def _resume_engine(slot: TaskSlot, engine: str, tries: int) -> None:
    """Where a resumed task goes on: on the fallback its last attempt ran on, if it had moved."""
    chain = [str(fallback) for fallback in slot.fallbacks]
    if engine in chain:
        for _ in range(chain.index(engine) + 1):
            slot.fail_over()
    if str(slot.engine) == engine:
        slot.tries_here = tries

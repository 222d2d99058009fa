"""Task slots: each task knows its dependents, and a resumed run starts from what it had finished."""

from __future__ import annotations

from parallelai.models import RunSpec, Task, TaskState, Usage
from parallelai.orchestration.task_slots import Resumption, build_slots, restore


def plan() -> RunSpec:
    return RunSpec(
        tasks=[
            Task(id="a", prompt="a"),
            Task(id="b", prompt="b", engine="openai:gpt-4.1"),
            Task(id="c", prompt="c", depends_on=["a", "b"]),
            Task(id="d", prompt="d", depends_on=["c"]),
        ]
    )


def resumption(states: dict[str, TaskState], again: frozenset[str] = frozenset()) -> Resumption:
    return Resumption(
        states=states,
        outputs={"a": "answer a", "b": "answer b"},
        attempts={"a": 1, "b": 2, "c": 3},
        spent=Usage(),
        reused=0,
        again=again,
    )


def test_each_slot_knows_its_engine_and_the_tasks_that_depend_on_it() -> None:
    slots = build_slots(plan())

    assert list(slots) == ["a", "b", "c", "d"]
    assert [slots[task].dependents for task in slots] == [["c"], ["c"], ["d"], []]
    assert str(slots["a"].engine) == "echo"
    assert str(slots["b"].engine) == "openai:gpt-4.1"
    assert slots["a"].engine is slots["c"].engine  # parsed once per engine named


def test_a_new_run_requeues_nothing_and_counts_what_each_task_waits_for() -> None:
    slots = build_slots(plan())

    assert restore(slots, None) == []
    assert [slots[task].waiting_on for task in slots] == [0, 0, 2, 1]
    assert all(slot.state is TaskState.PENDING for slot in slots.values())


def test_a_resumed_run_keeps_its_finished_tasks_and_requeues_the_rest() -> None:
    slots = build_slots(plan())
    states = {"a": TaskState.SUCCEEDED, "b": TaskState.FAILED, "c": TaskState.INTERRUPTED}

    requeued = restore(slots, resumption(states))

    assert requeued == ["c", "d"]
    assert (slots["a"].state, slots["a"].output) == (TaskState.SUCCEEDED, "answer a")
    assert (slots["b"].state, slots["b"].output) == (TaskState.FAILED, "answer b")
    assert [slots[task].attempts for task in slots] == [1, 2, 3, 0]
    assert slots["c"].state is TaskState.PENDING
    assert slots["c"].waiting_on == 1  # a succeeded; b did not


def test_a_task_run_again_is_requeued_whatever_its_state_and_its_dependents_wait_for_it() -> None:
    slots = build_slots(plan())
    states = {"a": TaskState.SUCCEEDED, "b": TaskState.SUCCEEDED, "c": TaskState.SUCCEEDED}

    requeued = restore(slots, resumption(states, again=frozenset({"a"})))

    assert requeued == ["a", "d"]
    assert slots["a"].state is TaskState.PENDING
    assert slots["a"].output == ""
    assert slots["c"].state is TaskState.SUCCEEDED  # kept: only the tasks named run again
    assert slots["d"].waiting_on == 0

"""The adaptive controller's decisions, from signals alone: no clock, no machine, no event loop."""

from __future__ import annotations

from parallelai.models import ErrorKind, TaskError, TaskResult
from parallelai.orchestration.adaptive import (
    AGENT_BYTES,
    PROBE_ROUNDS,
    AdaptiveConcurrency,
    Change,
    Headroom,
    engine_ceilings,
    headroom,
)
from parallelai.orchestration.machine import MachineReading

ROOMY = Headroom(agents=None, busy=False)
OK = TaskResult(text="done")


def refused(kind: ErrorKind = ErrorKind.RATE_LIMITED, retry_after: float | None = 2.0) -> TaskResult:
    return TaskResult(error=TaskError(kind=kind, message="too many", retry_after=retry_after))


def succeed(
    control: AdaptiveConcurrency,
    times: int = 1,
    *,
    latency_s: float = 1.0,
    machine: Headroom = ROOMY,
    saturated: bool = True,
) -> list[Change]:
    changes = []
    for _ in range(times):
        change = control.observe(
            "api",
            OK,
            epoch=control.epoch("api"),
            place=control.limit("api"),
            latency_s=latency_s,
            now=0.0,
            machine=machine,
            saturated=saturated,
        )
        if change is not None:
            changes.append(change)
    return changes


def refuse(
    control: AdaptiveConcurrency, *, epoch: int | None = None, place: int | None = None, now: float = 0.0
) -> Change | None:
    return control.observe(
        "api",
        refused(),
        epoch=control.epoch("api") if epoch is None else epoch,
        place=control.limit("api") if place is None else place,
        latency_s=0.01,
        now=now,
        machine=ROOMY,
        saturated=True,
    )


def test_an_engine_starts_at_four_at_once_or_its_ceiling_if_lower() -> None:
    control = AdaptiveConcurrency({"api": 100, "tiny": 2})

    assert [(c.engine, c.old, c.new) for c in control.start()] == [("api", None, 4), ("tiny", None, 2)]


def test_before_any_refusal_every_success_raises_the_limit_by_one() -> None:
    control = AdaptiveConcurrency({"api": 100})

    changes = succeed(control, 4)

    assert [(c.old, c.new) for c in changes] == [(4, 5), (5, 6), (6, 7), (7, 8)]
    assert control.limit("api") == 8  # doubled in one round


def test_the_limit_never_grows_past_the_ceiling() -> None:
    control = AdaptiveConcurrency({"api": 6})

    succeed(control, 50)

    assert control.limit("api") == 6


def test_a_limit_nobody_uses_up_does_not_grow() -> None:
    control = AdaptiveConcurrency({"api": 100})

    assert succeed(control, 10, saturated=False) == []
    assert control.limit("api") == 4


def test_a_refusal_halves_the_limit_and_pauses_the_engine_for_its_retry_after() -> None:
    control = AdaptiveConcurrency({"api": 100})
    succeed(control, 12)  # 16

    change = refuse(control, place=16, now=100.0)

    assert change is not None
    assert (change.old, change.new) == (16, 8)
    assert "rate_limited" in change.reason
    assert "2 s" in change.reason
    assert control.allowed("api", now=101.0) == 0
    assert control.pause_left("api", now=101.0) == 1.0
    assert control.allowed("api", now=102.0) == 8


def test_an_overloaded_answer_is_a_refusal_too() -> None:
    control = AdaptiveConcurrency({"api": 100})

    change = control.observe(
        "api",
        refused(ErrorKind.OVERLOADED, retry_after=None),
        epoch=0,
        place=4,
        latency_s=0.1,
        now=0.0,
        machine=ROOMY,
        saturated=True,
    )

    assert change is not None
    assert change.new == 2
    assert control.allowed("api", now=0.0) == 2  # no retry-after: no pause


def test_refusals_of_attempts_admitted_before_a_cut_do_not_cut_again() -> None:
    control = AdaptiveConcurrency({"api": 100})
    succeed(control, 12)  # 16
    before = control.epoch("api")

    first = refuse(control, epoch=before, place=14)
    second = refuse(control, epoch=before, place=15)

    assert first is not None
    assert first.new == 7
    assert second is None
    assert control.limit("api") == 7


def test_the_cut_starts_from_the_place_of_the_refused_attempt_when_that_is_below_the_limit() -> None:
    control = AdaptiveConcurrency({"api": 100})
    succeed(control, 12)  # 16, but the provider refused the 14th at once

    change = refuse(control, place=14)

    assert change is not None
    assert change.new == 7
    assert "at 14 running" in change.reason


def test_after_a_refusal_the_limit_climbs_back_fast_to_the_knee_then_probes_only_after_whole_rounds() -> None:
    control = AdaptiveConcurrency({"api": 100})
    succeed(control, 12)
    refuse(control, place=14)  # knee 13, limit 7

    back = succeed(control, 6)
    assert [c.new for c in back] == [8, 9, 10, 11, 12, 13]

    assert succeed(control, PROBE_ROUNDS * 13 - 1) == []
    (probe,) = succeed(control)
    assert (probe.old, probe.new) == (13, 14)
    assert "probing" in probe.reason


def test_each_probe_that_holds_halves_the_wait_for_the_next() -> None:
    control = AdaptiveConcurrency({"api": 100})
    refuse(control, place=4)  # knee 3, limit 2
    succeed(control)  # 3: at the knee

    first = len(succeed(control, PROBE_ROUNDS * 3))
    second = len(succeed(control, PROBE_ROUNDS * 4 // 2))

    assert (first, second) == (1, 1)
    assert control.limit("api") == 5


def test_the_limit_holds_while_latency_climbs() -> None:
    control = AdaptiveConcurrency({"api": 100})
    succeed(control, 1, latency_s=1.0)  # 5

    assert succeed(control, 5, latency_s=10.0) == []  # the moving average passes 2 s at once
    assert control.limit("api") == 5


def test_a_failure_of_the_agent_itself_neither_grows_nor_cuts_the_limit() -> None:
    control = AdaptiveConcurrency({"api": 100})
    failed = TaskResult(error=TaskError(kind=ErrorKind.EXECUTION, message="exit 1"))

    change = control.observe(
        "api", failed, epoch=0, place=4, latency_s=0.1, now=0.0, machine=ROOMY, saturated=True
    )

    assert change is None
    assert control.limit("api") == 4


def test_a_busy_machine_holds_the_limit_and_a_full_one_lowers_it() -> None:
    control = AdaptiveConcurrency({"api": 100})
    succeed(control, 4)  # 8

    assert succeed(control, 3, machine=Headroom(agents=None, busy=True)) == []
    (lowered,) = succeed(control, machine=Headroom(agents=5, busy=False))

    assert (lowered.old, lowered.new) == (8, 5)
    assert "machine" in lowered.reason


def test_headroom_is_the_running_agents_plus_what_memory_still_holds_and_busy_past_two_per_cpu() -> None:
    assert headroom(MachineReading(0.5, 10 * AGENT_BYTES + 1), running=3) == Headroom(13, False)
    assert headroom(MachineReading(2.5, None), running=3) == Headroom(None, True)
    assert headroom(MachineReading(0.0, 0), running=0).agents == 1  # never below one


def test_an_engine_ceiling_is_the_run_parallel_or_its_own_lower_limit() -> None:
    assert engine_ceilings(["a", "b"], 10, {"b": 3, "c": 50}) == {"a": 10, "b": 3}
    assert engine_ceilings(["a"], 10, {"a": 50}) == {"a": 10}

"""The ETA of `run` and `watch`: from the throughput observed over the latest finishes, up to now
(and, for a resumed run, since it runs again)."""

from __future__ import annotations

import pytest

from parallelai.cli.progress_eta import Eta, duration, eta_text
from parallelai.cli.watch_view import WatchModel
from parallelai.events import RunStarted, TaskStateChanged
from parallelai.models import TaskState

T0 = 1_700_000_000.0  # epoch seconds, like events' `at`


def _eta_after(ends: list[float], **options: int) -> Eta:
    eta = Eta(T0, **options)
    for end in ends:
        eta.finished(T0 + end)
    return eta


def test_there_is_no_estimate_before_three_tasks_have_finished() -> None:
    eta = _eta_after([1.0, 2.0])
    assert eta.estimate(10, T0 + 2.0) is None
    assert eta_text(eta, 10, T0 + 2.0) == "ETA …"


def test_the_estimate_is_what_is_left_at_the_rate_observed() -> None:
    eta = _eta_after([2.0, 4.0, 6.0])  # one task every 2 s
    assert eta.estimate(10, T0 + 6.0) == pytest.approx(20.0)
    assert eta_text(eta, 10, T0 + 6.0) == "ETA 20s"


def test_the_estimate_grows_while_nothing_finishes() -> None:
    eta = _eta_after([1.0, 2.0, 3.0])
    soon = eta.estimate(6, T0 + 3.0)
    later = eta.estimate(6, T0 + 12.0)
    assert soon is not None
    assert later is not None
    assert later == pytest.approx(4 * soon)


def test_only_the_latest_finishes_count_so_a_run_that_speeds_up_is_estimated_as_it_goes_now() -> None:
    slow_then_fast = [10.0 * i for i in range(1, 4)] + [30.0 + 0.5 * i for i in range(1, 5)]
    eta = _eta_after(slow_then_fast, window=4)  # the window holds the four fast ones
    assert eta.estimate(8, T0 + 32.0) == pytest.approx(4.0)  # 4 in the 2 s since the 3rd ended


def test_nothing_left_means_done_and_no_text() -> None:
    eta = _eta_after([1.0])
    assert eta.estimate(0, T0 + 5.0) == 0.0
    assert eta_text(eta, 0, T0 + 5.0) == ""


def test_a_burst_of_finishes_at_the_origin_gives_no_estimate_rather_than_a_division_by_zero() -> None:
    eta = _eta_after([0.0, 0.0, 0.0])
    assert eta.estimate(5, T0) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "<1s"), (0.6, "1s"), (42.4, "42s"), (59.6, "1m 00s"), (185, "3m 05s"), (7620, "2h 07m")],
)
def test_durations_read_as_a_person_says_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_watch_measures_a_resumed_run_from_when_it_runs_again_not_across_the_pause() -> None:
    model = WatchModel()
    model.focus("r1")
    model.add_tasks([f"t{index}" for index in range(10)])

    def finish(task: int, at: float) -> None:
        model.apply(TaskStateChanged(run_id="r1", at=T0 + at, task_id=f"t{task}", state=TaskState.SUCCEEDED))

    model.apply(RunStarted(run_id="r1", at=T0))
    for task in range(3):
        finish(task, 1.0 + task)
    model.apply(RunStarted(run_id="r1", at=T0 + 3600, resumed=True, requeued=7))  # an hour later
    for task in range(3, 6):
        finish(task, 3601.0 + task - 3)
    assert model.eta is not None
    assert model.eta.estimate(4, T0 + 3603) == pytest.approx(4.0)  # 3 tasks in 3 s since it resumed

"""The summary line `parallelai show` prints for a run that has not finished says how long it has run so far."""

from __future__ import annotations

import re
import time

import pytest

from parallelai.cli.summary import print_summary
from parallelai.models import RunState, RunSummary, TaskState, Usage


def test_a_running_run_shows_the_time_it_has_run_so_far_not_zero(capsys: pytest.CaptureFixture[str]) -> None:
    counts = dict.fromkeys(TaskState, 0) | {TaskState.SUCCEEDED: 1, TaskState.RUNNING: 1}
    an_hour_ago = time.time() - 3600
    summary = RunSummary(
        id="r1",
        name=None,
        strategy="parallel",
        state=RunState.RUNNING,
        created_at=an_hour_ago,
        finished_at=None,
        counts=counts,
        usage=Usage(),
    )

    print_summary(summary, False, [])

    line = capsys.readouterr().out
    elapsed = re.search(r"· ([0-9.]+)s$", line.strip())
    assert elapsed is not None, line
    assert float(elapsed.group(1)) >= 3600.0

"""The first screen of a foreground `parallelai run`, on a real pseudo-terminal: something at once,
then the run id before any progress, then the tasks running (with how long each has run) and an
ETA once a few tasks have finished. Piped, the run id is the first line too."""

from __future__ import annotations

import re
import sys

import anyio
import pytest

from parallelai.cli.main import EXIT_OK, main
from tests.cli._terminal import terminal

pytestmark = pytest.mark.anyio

DEADLINE_S = 60.0
RUN_ID = r"r\d{8}-\d{6}-[0-9a-f]{4}"
TASKS = 12


async def test_a_foreground_run_says_it_starts_then_shows_its_id_active_tasks_and_an_eta() -> None:
    prompts = [f"prompt {index}" for index in range(TASKS)]
    command = [sys.executable, "-m", "parallelai", "run", "-E", "latency=0.3", "--parallel", "3", *prompts]
    with anyio.fail_after(DEADLINE_S):
        async with terminal(command) as screen:
            starting = await screen.wait_for(r"parallelai: starting…")
            header = await screen.wait_for(rf"run ({RUN_ID}): {TASKS} tasks")
            run_id = header.group(1)
            # Nothing but the early line comes before the id: no progress, no blank wait.
            assert screen.text[: header.start()].strip() == starting.group(0)

            await screen.wait_for(r"▸ t0\d\d\s+(<1s|\d+s)", header.end())  # a running task, how long
            await screen.wait_for(r"ETA (<1s|\d+s|\d+m \d\ds)", header.end())
            await screen.wait_for(rf"run {run_id} succeeded: {TASKS}/{TASKS} succeeded")
            assert await screen.drain_until_exit() == EXIT_OK


def test_piped_the_run_id_is_the_first_line_and_progress_lines_carry_an_eta(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "-E", "latency=0.05", *(f"p{index}" for index in range(6))]) == EXIT_OK
    err = capsys.readouterr().err
    first, *rest = err.splitlines()
    match = re.fullmatch(rf"run ({RUN_ID}): 6 tasks", first)
    assert match, err
    assert not re.search(r"ETA", rest[0]), "an ETA from one finished task would be a guess"
    assert any(re.search(r"\[\d/6\] t00\d succeeded · ETA (<1s|\d+s)$", line) for line in rest), err
    assert rest[-1].startswith("[6/6]")
    assert "ETA" not in rest[-1]  # nothing left

"""`parallelai watch` and a foreground `parallelai run` as a person sees them: in tmux, at 120 x 40,
against a real daemon, with keys sent the way a terminal sends them, and the screen read back
from the emulator after each redraw.

These check what `tests/cli/test_watch_navigation.py` and `test_run_first_screen.py` cannot, since
they read the program's output stream: which row the selection highlights now (reverse video),
that an opened task replaces the lists and Esc brings them back (gone from the screen, not just
drawn once), and that the run id, the tasks running and the ETA are on one screen together.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import anyio
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.models import TaskState
from tests.cli._tmux import TMUX, Pane, tmux
from tests.server._paused_account import PAUSE_S, paused_run
from tests.server._process import daemon_process
from tests.server._support import echo_run
from tests.support.model_server import Failure, ScriptedModelServer, default_dialects
from tests.support.polling import POLL_S

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

if TMUX is None:
    pytest.skip("tmux is not installed: run `bash scripts/setup.sh --browser`", allow_module_level=True)

DEADLINE_S = 90.0
WATCH = [sys.executable, "-m", "parallelai", "watch"]
RUN_ID = r"r\d{8}-\d{6}-[0-9a-f]{4}"
BROKEN = {"retries": 0, "engine_options": {"fail_attempts": 1, "failure_kind": "execution"}}


async def _selection(pane: Pane, pattern: str) -> str:
    """The task id on the one highlighted row, once it matches `pattern` (group 1 is the id)."""
    compiled = re.compile(pattern)
    lines: list[str] = []
    try:
        with anyio.fail_after(30):
            while True:
                lines = await pane.selected_lines()
                if len(lines) == 1 and (match := compiled.search(lines[0])):
                    return match.group(1)
                await anyio.sleep(POLL_S)
    except TimeoutError:
        raise AssertionError(
            f"no one row matching {pattern!r} highlighted: {lines}\n{await pane.screen()}"
        ) from None


def _panel(screen: str, title: str) -> str:
    """The lines of the panel titled `title`, down to the next panel."""
    start = screen.index(title)
    end = screen.find("╭", start + len(title))
    return screen[start : end if end >= 0 else len(screen)]


async def test_watch_highlights_the_row_the_arrows_select_and_retries_the_opened_failure(
    tmp_path: Path,
) -> None:
    work = {
        "strategy": "parallel",
        "tasks": [
            {"id": "ok", "prompt": "a"},
            {"id": "bad1", "prompt": "b", "options": BROKEN},
            {"id": "bad2", "prompt": "c", "options": BROKEN},
        ],
    }
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite") as daemon, DaemonClient(daemon.info) as client:
            run_id = (await client.create_run({"work": work})).id
            async with tmux([*WATCH, run_id]) as pane:
                await pane.wait_for(r"succeeded 1\s+failed 2")
                await pane.wait_for(r"↑↓ select\s+enter open")
                assert await pane.selected_lines() == []  # nothing is selected before a key

                await pane.press("Down")
                first = await _selection(pane, r"\b(bad[12])\b")
                await pane.press("Down")
                second = await _selection(pane, rf"\b(?!{first}\b)(bad[12])\b")
                await pane.press("Up")
                assert await _selection(pane, rf"\b({first})\b") == first

                await pane.press("Enter")
                await pane.wait_for(rf"task {first}\s+failed")
                opened = await pane.wait_for(r"#1\s+\d\d:\d\d:\d\d\s+\S+\s+failed\s+execution: ")
                assert "recent failures" not in opened.string  # the task replaces the lists
                await pane.wait_for(r"esc back\s+c cancel this task\s+r retry this task")

                await pane.press("r")
                await pane.wait_for(rf"{run_id}: retrying 1 task\b")
                await pane.wait_for(rf"task {first}\s+succeeded")
                await pane.wait_for(r"#2\s+\d\d:\d\d:\d\d\s+\S+\s+succeeded")

                await pane.press("Escape")
                back = await pane.wait_for(r"succeeded 2\s+failed 1")
                await pane.wait_until_gone(rf"task {first}\s+succeeded")
                failures = _panel((await pane.wait_for(r"recent failures")).string, "recent failures")
                assert second in failures, back.string
                assert first not in failures, back.string  # it succeeded: no longer a failure

                await pane.press("q")
                assert await pane.exit_status() == 0
            tasks = {task.id: task.state for task in await client.tasks(run_id)}
    assert tasks == {"ok": TaskState.SUCCEEDED, first: TaskState.SUCCEEDED, second: TaskState.FAILED}


async def test_watch_opens_a_running_task_and_cancels_it_while_the_rest_runs_on(tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite") as daemon, DaemonClient(daemon.info) as client:
            run_id = (await client.create_run(echo_run(3) | {"engines": {"echo": {"hang": True}}})).id
            async with tmux([*WATCH, run_id]) as pane:
                await pane.wait_for(r"active tasks \(3\)")
                await pane.press("Down", "Down")
                chosen = await _selection(pane, r"│\s*(t00[123])\s")
                await pane.press("Enter")
                opened = await pane.wait_for(rf"task {chosen}\s+running")
                assert "active tasks" not in opened.string
                await pane.wait_for(r"output: none yet")

                await pane.press("c")
                await pane.wait_for(rf"{chosen} cancelled")
                await pane.wait_for(rf"task {chosen}\s+cancelled")
                await pane.press("Escape")
                active = _panel((await pane.wait_for(r"active tasks \(2\)")).string, "active tasks")
                assert chosen not in active
                assert len(re.findall(r"\bt00[123]\b", active)) == 2
                await pane.press("q")
                assert await pane.exit_status() == 0
            run = await client.run(run_id)
            await client.cancel(run_id)
    assert run.counts[TaskState.CANCELLED] == 1
    assert run.counts[TaskState.RUNNING] == 2


async def test_a_foreground_run_s_screen_shows_its_id_running_tasks_and_an_eta_together() -> None:
    tasks = 12
    prompts = [f"prompt {index}" for index in range(tasks)]
    command = [sys.executable, "-m", "parallelai", "run", "-E", "latency=0.4", "--parallel", "3", *prompts]
    with anyio.fail_after(DEADLINE_S):
        async with tmux(command) as pane:
            header = await pane.wait_for(rf"run ({RUN_ID}): {tasks} tasks")
            run_id = header.group(1)
            # One screen, while the run goes on: the id still at the top, tasks running, an ETA.
            screen = await pane.wait_for(
                rf"(?s)\A(?=.*▸ t0\d\d\s+(<1s|\d+s))(?=.*ETA (<1s|\d+s))(?=.*\bdone \d+/{tasks}|.*\d+/{tasks})"
            )
            lines = [line.strip() for line in screen.string.splitlines() if line.strip()]
            assert lines[0] in ("parallelai: starting…", f"run {run_id}: {tasks} tasks"), screen.string
            assert f"run {run_id}: {tasks} tasks" in lines[:2], screen.string
            assert 1 <= len(re.findall(r"▸ t0\d\d", screen.string)) <= 3, screen.string  # --parallel 3

            await pane.wait_for(rf"run {run_id} succeeded: {tasks}/{tasks} succeeded")
            assert await pane.exit_status() == 0


async def test_watch_shows_a_provider_account_paused_by_a_429_above_the_tasks(tmp_path: Path) -> None:
    with ScriptedModelServer(default_dialects()) as server, anyio.fail_after(DEADLINE_S):
        server.script(Failure(429, "slow down", headers={"retry-after": str(PAUSE_S)}))
        async with daemon_process(tmp_path / "db.sqlite") as daemon, DaemonClient(daemon.info) as client:
            run_id = (await client.create_run(paused_run(server.url))).id
            async with tmux([*WATCH, run_id]) as pane:
                host = re.escape(server.url.removeprefix("http://"))
                held = await pane.wait_for(
                    rf"rate limited openai {host}: paused \d+ s · 1 refused \(429\) · \d+/500 requests/min"
                )
                # Above the lists, under the counts: the reason the run's task is not running.
                lines = held.string.splitlines()
                at = next(index for index, line in enumerate(lines) if "rate limited" in line)
                assert "done 0/1" in lines[at - 2], held.string
                await pane.wait_for(r"waiting to retry \(1, no slot held\)")
                await pane.press("q")
                assert await pane.exit_status() == 0
            await client.cancel(run_id)

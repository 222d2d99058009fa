"""Child processes: own session, captured or streamed output, and nothing left behind."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from parallelai.engines._cli.process import child_env, run_process

pytestmark = pytest.mark.anyio


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in {"Z", "X"}  # a zombie has exited; only its reaper has not noticed


def _pids_running(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and _alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


async def _poll_until(condition: Callable[[], bool]) -> None:
    # The OS offers no event for "a process is gone", so poll, under a deadline.
    with anyio.fail_after(10):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def test_output_and_exit_code_are_collected() -> None:
    outcome = await run_process(["sh", "-c", "echo out; echo err >&2; exit 4"])

    assert (outcome.returncode, outcome.stdout, outcome.stderr, outcome.truncated) == (
        4,
        "out\n",
        "err\n",
        False,
    )


async def test_lines_can_be_streamed_as_they_arrive_including_a_last_unterminated_one() -> None:
    lines: list[str] = []

    outcome = await run_process(["printf", "one\ntwo\nthree"], on_line=lines.append)

    assert lines == ["one", "two", "three"]
    assert outcome.stdout == ""


async def test_stdin_is_delivered_and_closed() -> None:
    outcome = await run_process(["cat"], stdin=b"fed through stdin")

    assert outcome.stdout == "fed through stdin"


async def test_the_child_runs_in_its_own_session() -> None:
    outcome = await run_process(["sh", "-c", "ps -o sid= -p $$; echo $$"])

    sid, pid = outcome.stdout.split()
    assert sid == pid
    assert int(sid) != os.getsid(0)


async def test_a_background_grandchild_does_not_outlive_its_finished_parent(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    with anyio.fail_after(10):  # the grandchild holds the pipes open: returning at all means it was killed
        outcome = await run_process(["sh", "-c", f"sleep 300 & echo $! > {pidfile}; echo done"])

    assert outcome.stdout == "done\n"
    await _poll_until(lambda: not _alive(int(pidfile.read_text())))


async def test_cancelling_kills_the_whole_process_tree(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    async with anyio.create_task_group() as group:
        group.start_soon(run_process, ["sh", "-c", f"sleep 300 & echo $! > {pidfile}; wait"])
        await _poll_until(lambda: pidfile.exists() and bool(pidfile.read_text().strip()))
        group.cancel_scope.cancel()

    # The SIGKILL was sent before run_process returned; dying can still take the kernel a moment.
    await _poll_until(lambda: not _alive(int(pidfile.read_text())))


async def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    marker = f"300.{secrets.randbelow(10**6)}"

    with anyio.move_on_after(0.2):
        await run_process(["sh", "-c", f"trap '' TERM; sleep {marker} & wait; wait"], kill_grace_s=0.1)

    await _poll_until(lambda: not _pids_running(marker))


async def test_a_cancel_that_lands_while_the_child_starts_leaves_nothing_behind() -> None:
    marker = f"301.{secrets.randbelow(10**6)}"

    with anyio.CancelScope() as scope:
        scope.cancel()  # delivered at the first checkpoint: inside the spawn
        await run_process(["sh", "-c", f"sleep {marker} & wait"], kill_grace_s=0.1)

    await _poll_until(lambda: not _pids_running(marker))


async def test_output_past_the_cap_is_dropped_and_flagged() -> None:
    outcome = await run_process(["sh", "-c", "head -c 5000 /dev/zero"], max_output_bytes=100)

    assert outcome.truncated
    assert len(outcome.stdout) == 100


def test_the_child_environment_is_an_allow_list_plus_what_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("WANTED", "yes")

    env = child_env({"EXTRA": "1"}, passthrough=["WANTED"])

    assert env["PATH"] == "/usr/bin"
    assert env["LC_ALL"] == "C.UTF-8"
    assert env["WANTED"] == "yes"
    assert env["EXTRA"] == "1"
    assert "OPENAI_API_KEY" not in env


def test_children_can_be_run_from_any_loop_and_any_thread() -> None:
    async def exit_codes() -> list[int]:
        codes: dict[int, int] = {}

        async def one(code: int) -> None:
            codes[code] = (await run_process(["sh", "-c", f"exit {code}"])).returncode

        async with anyio.create_task_group() as group:
            for code in range(6):
                group.start_soon(one, code)
        return [codes[code] for code in range(6)]

    # One loop after another in this thread, and one in a thread of its own: nothing about a
    # child is bound to the loop that first spawned one.
    in_thread: list[list[int]] = []
    worker = threading.Thread(target=lambda: in_thread.append(anyio.run(exit_codes)))
    assert anyio.run(exit_codes) == list(range(6))
    worker.start()
    worker.join(timeout=30)
    assert anyio.run(exit_codes) == list(range(6))
    assert in_thread == [list(range(6))]

"""Agent tags: every agent and all it starts carry the attempt's tag, and nothing tagged outlives its attempt
or the process that started it — whatever the agent does to detach itself."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import ByteReceiveStream, Process

from parallelai.engines._cli.process import run_process
from parallelai.engines.agent_tags import (
    AGENT_TAG_ENV,
    current_tag,
    ensure_warden,
    find_tagged,
    stop_tagged,
    tagged_env,
    tagging,
)
from parallelai.processes import ProcessIdentity, send_signal

pytestmark = pytest.mark.anyio

_OWNER = f"test-{secrets.token_hex(4)}"  # one owner for the module: one warden in this process
_REPO = Path(__file__).resolve().parents[2]

# A daemon as the books describe it: fork, leave the session, fork again, let go of the terminal.
_DAEMONIZE = """\
import os, sys
if os.fork():
    os.wait()
    sys.exit(0)
os.setsid()
if os.fork():
    os._exit(0)
devnull = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(devnull, fd)
os.execvp("sleep", ["sleep", sys.argv[1]])
"""

# Each starts `sleep MARKER` so that it no longer hangs off the agent's process group or session,
# before the agent says it is ready.
_ESCAPES = {
    "plain": "sleep {marker} &",
    "ignoring-sigterm": "trap '' TERM; sleep {marker} &",
    "double-fork": "(sleep {marker} &)",
    "setsid": "setsid sleep {marker} &",
    "setsid-double-fork": "(setsid sleep {marker} &)",
    "nohup-disown": "nohup sleep {marker} >/dev/null 2>&1 & disown",
    "python-daemon": "{python} -c '{daemonize}' {marker}",
}


@pytest.fixture
def tag() -> Iterator[str]:
    """A tag of its own for the test; whatever still carries it afterwards is killed."""
    tag = f"{_OWNER}/run-{secrets.token_hex(4)}/task/1"
    yield tag
    for leftover in find_tagged(tag):
        send_signal(leftover, signal.SIGKILL)


def _marker() -> str:
    return f"30.{secrets.randbelow(10**6):06d}"  # a `sleep` argument no other process has


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _tagged_running(tag: str, marker: str) -> list[ProcessIdentity]:
    return [p for p in find_tagged(tag) if _cmdline(p.pid) == ["sleep", marker]]


async def _until(condition: Callable[[], object]) -> None:
    # The OS offers no event for "a process is gone" (or "has exec'd"), so poll, under a deadline.
    with anyio.fail_after(15):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.02)


async def test_agents_carry_the_current_tag_and_nothing_else_changes(tag: str) -> None:
    with tagging(tag):
        outcome = await run_process(["sh", "-c", f'echo "${AGENT_TAG_ENV}|$ONLY"'], env={"ONLY": "this"})

    assert outcome.stdout == f"{tag}|this\n"
    assert current_tag() is None


async def test_tasks_started_inside_the_block_inherit_its_tag(tag: str) -> None:
    seen: list[str | None] = []

    async def look() -> None:
        seen.append(current_tag())

    with tagging(tag):
        async with anyio.create_task_group() as group:
            group.start_soon(look)
    async with anyio.create_task_group() as group:
        group.start_soon(look)

    assert seen == [tag, None]


def test_without_a_tag_the_environment_is_left_as_it_is() -> None:
    env = {"A": "1"}

    assert tagged_env(env) is env
    assert tagged_env(None) is None


def test_with_a_tag_an_inherited_environment_is_ours_plus_the_tag(
    tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INHERITED_SETTING", "kept")

    with tagging(tag):
        env = tagged_env(None)

    assert env is not None
    assert env["INHERITED_SETTING"] == "kept"
    assert env[AGENT_TAG_ENV] == tag


@pytest.mark.parametrize("bad", ["", "owner//task", "/run", "owner/run/", "own\0er/run", "own\ner/run"])
def test_a_tag_has_no_empty_part(bad: str) -> None:
    with pytest.raises(ValueError, match="OWNER/RUN/TASK/ATTEMPT"), tagging(bad):
        pass


def test_one_warden_watches_every_owner_in_this_process() -> None:
    for owner in (_OWNER, f"{_OWNER}-another", f"{_OWNER}-a-third"):
        ensure_warden(owner)

    assert len(_wardens_of(os.getpid())) == 1
    with pytest.raises(ValueError, match="one part"):
        ensure_warden(f"{_OWNER}/run")


async def test_stopping_a_tag_nobody_carries_finds_nothing(tag: str) -> None:
    with anyio.fail_after(10):
        assert await stop_tagged(tag, grace_s=3600) == 0


async def test_a_prefix_finds_what_is_tagged_under_it_and_nothing_beside_it(tag: str) -> None:
    run = tag.rsplit("/", 2)[0]  # OWNER/RUN
    marker = _marker()
    started: list[Process] = []
    try:
        for below in (f"{run}/task/1", f"{run}/other/2", f"{run}x/task/1"):
            with tagging(below):
                started.append(await anyio.open_process(["sleep", marker], env=tagged_env(None)))
        await _until(lambda: len(_tagged_running(_OWNER, marker)) == 3)

        assert {p.pid for p in find_tagged(run)} == {started[0].pid, started[1].pid}
        assert {p.pid for p in find_tagged(f"{run}/task/1")} == {started[0].pid}
        assert os.getpid() not in {p.pid for p in find_tagged(_OWNER)}
    finally:
        for process in started:
            process.kill()
            await process.aclose()


async def test_stopping_a_tag_kills_what_ignores_sigterm_once_the_grace_is_over(tag: str) -> None:
    marker = _marker()
    with tagging(tag):
        shell = await anyio.open_process(
            ["sh", "-c", f"trap '' TERM; setsid sleep {marker} & exec sleep {marker}"], env=tagged_env(None)
        )
    try:
        await _until(lambda: len(_tagged_running(tag, marker)) == 2)

        with anyio.fail_after(15):
            stopped = await stop_tagged(tag, grace_s=0.1)

        assert stopped == 2
        await _until(lambda: not find_tagged(tag))
    finally:
        if shell.returncode is None:
            shell.kill()
        await shell.aclose()


@pytest.mark.parametrize("interruption", ["timeout", "cancel"])
@pytest.mark.parametrize("escape", list(_ESCAPES))
async def test_nothing_tagged_outlives_an_interrupted_agent_however_it_detached(
    tag: str, escape: str, interruption: str
) -> None:
    marker = _marker()
    detach = _ESCAPES[escape].format(marker=marker, python=sys.executable, daemonize=_DAEMONIZE)
    ready = anyio.Event()
    scope = anyio.CancelScope()

    async def attempt() -> None:
        with scope:
            await run_process(
                ["bash", "-c", f"{detach}\necho ready\nsleep 300"],
                on_line=lambda line: ready.set() if line == "ready" else None,
                kill_grace_s=0.5,
            )

    with tagging(tag):
        async with anyio.create_task_group() as group:
            group.start_soon(attempt)
            with anyio.fail_after(15):
                await ready.wait()
            await _until(lambda: _tagged_running(tag, marker))  # detached, and running as `sleep`
            [escapee] = _tagged_running(tag, marker)
            if interruption == "timeout":
                scope.deadline = anyio.current_time()
            else:
                scope.cancel()

    assert scope.cancelled_caught
    await _until(lambda: not find_tagged(tag))
    assert not escapee.alive()


_AGENT_HOST = """\
import os
import sys
import time

import anyio

from parallelai.engines._cli.process import run_process
from parallelai.engines.agent_tags import tagging


def relay(line: str) -> None:
    if line == "ready" and sys.argv[3] == "fork":  # a child that lives on, as Python, without exec
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        print(f"forked {child}", flush=True)
    print(line, flush=True)


async def main() -> None:
    with tagging(sys.argv[1]):
        await run_process(["bash", "-c", sys.argv[2]], on_line=relay)


anyio.run(main)
"""


def _wardens_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            argv = _cmdline(int(entry.name))
            if argv[1:4] == ["-I", "-S", "-c"] and argv[5:6] == [str(pid)]:
                found.append(int(entry.name))
    return found


async def _read_to_the_end(stream: ByteReceiveStream) -> None:
    with contextlib.suppress(anyio.EndOfStream):
        while True:
            await stream.receive()


@pytest.mark.parametrize("forked", [False, True], ids=["alone", "with-a-forked-child-alive"])
async def test_agents_are_stopped_by_the_warden_when_their_process_is_killed(forked: bool) -> None:
    owner = f"host-{secrets.token_hex(4)}"
    markers = [_marker() for _ in range(4)]
    agents = (
        f"setsid sleep {markers[0]} & (sleep {markers[1]} &); (setsid sleep {markers[2]} &); "
        f"echo ready; sleep {markers[3]}"
    )
    host = await anyio.open_process(
        [sys.executable, "-c", _AGENT_HOST, f"{owner}/run/task/1", agents, "fork" if forked else "-"],
        cwd=_REPO,
        env={**os.environ, "PYTHONPATH": str(_REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    fork_pid: int | None = None
    try:
        assert host.stdout is not None
        with anyio.fail_after(30):
            output = b""
            while b"ready\n" not in output:
                output += await host.stdout.receive()
        if forked:  # it holds a copy of everything its parent had open, but must not hold the warden's pipe
            fork_pid = int(output.split(b"forked ")[1].split()[0])
        await _until(lambda: all(_tagged_running(owner, marker) for marker in markers))
        assert len(_wardens_of(host.pid)) == 1

        host.kill()  # SIGKILL: no `finally`, no atexit; only the kernel closes what it held
        await host.wait()

        await _until(lambda: not find_tagged(owner))
        await _until(lambda: not _wardens_of(host.pid))  # the warden is gone too, its work done
        if fork_pid is not None:
            assert ProcessIdentity.of(fork_pid) is not None  # it was not the child's exit that did it
            os.kill(fork_pid, signal.SIGKILL)
            fork_pid = None
        else:
            with anyio.fail_after(15):  # and the warden never held its owner's output open
                await _read_to_the_end(host.stdout)
    finally:
        if host.returncode is None:
            host.kill()
        await host.aclose()
        if fork_pid is not None:
            os.kill(fork_pid, signal.SIGKILL)
        for leftover in find_tagged(owner):
            send_signal(leftover, signal.SIGKILL)

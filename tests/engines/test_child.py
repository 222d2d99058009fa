"""The child handle under `run_process`: large stdin, no zombies or leaked descriptors, start failures,
the PATH cache, the fallback without pidfds, and `terminate_tree` on anyio's own processes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from parallelai.engines._cli import child
from parallelai.engines._cli.process import child_env, run_process, terminate_tree

pytestmark = pytest.mark.anyio


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None  # gone, reaped


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def _poll_until(condition: Callable[[], bool]) -> None:
    # The OS offers no event for "a process is gone", so poll, under a deadline.
    with anyio.fail_after(10):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def test_megabytes_of_stdin_go_through_while_the_output_is_read() -> None:
    data = os.urandom(4 * 1024 * 1024).hex().encode()  # 8 MB: far past any pipe buffer, both ways

    with anyio.fail_after(30):
        outcome = await run_process(["cat"], stdin=data, max_output_bytes=len(data))

    assert outcome.stdout.encode() == data
    assert not outcome.truncated


async def test_a_child_that_never_reads_its_stdin_is_not_an_error() -> None:
    outcome = await run_process(["sh", "-c", "exec 0<&-; echo ok"], stdin=b"x" * (1024 * 1024))

    assert (outcome.returncode, outcome.stdout) == (0, "ok\n")


async def test_the_child_is_reaped_and_no_descriptor_is_left_open() -> None:
    before = _open_fds()

    outcome = await run_process(["sh", "-c", "echo $$"], stdin=b"")

    assert _state(int(outcome.stdout)) is None  # not even a zombie
    assert _open_fds() == before


async def test_a_cancelled_child_is_reaped_too(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    before = _open_fds()

    async with anyio.create_task_group() as group:
        group.start_soon(run_process, ["sh", "-c", f"echo $$ > {pidfile}; sleep 300"])
        await _poll_until(lambda: pidfile.exists() and bool(pidfile.read_text().strip()))
        group.cancel_scope.cancel()

    assert _state(int(pidfile.read_text())) is None
    assert _open_fds() == before


async def test_a_missing_program_raises_oserror_and_leaks_nothing() -> None:
    before = _open_fds()

    with pytest.raises(FileNotFoundError):
        await run_process(["parallelai-no-such-program"])
    with pytest.raises(FileNotFoundError):
        await run_process(["/nonexistent/program"], stdin=b"x")

    assert _open_fds() == before


async def test_the_child_sees_argv0_as_given_though_the_program_was_resolved_on_path() -> None:
    outcome = await run_process(["sh", "-c", "tr '\\0' ' ' < /proc/$$/cmdline"], env=child_env())

    assert outcome.stdout.startswith("sh -c ")


async def test_a_program_that_moved_on_path_is_found_again(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for directory in (first, second):
        directory.mkdir()
    tool = first / "parallelai-test-tool"
    tool.write_text("#!/bin/sh\necho first\n")
    tool.chmod(0o755)
    env = {"PATH": f"{first}:{second}:{os.defpath}"}
    assert (await run_process([tool.name], env=env)).stdout == "first\n"

    tool.rename(second / tool.name)  # the cached path is stale now
    (second / tool.name).write_text("#!/bin/sh\necho second\n")

    assert (await run_process([tool.name], env=env)).stdout == "second\n"


async def test_without_pidfds_children_are_waited_for_in_a_thread(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError("no pidfds here")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    assert (await run_process(["sh", "-c", "echo hi; exit 3"])).returncode == 3

    pidfile = tmp_path / "pid"
    with anyio.move_on_after(0.5):
        await run_process(["sh", "-c", f"echo $$ > {pidfile}; sleep 300"], kill_grace_s=0.1)
    assert _state(int(pidfile.read_text())) is None


async def test_terminate_tree_still_takes_anyios_process(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    process = await anyio.open_process(
        ["sh", "-c", f"sleep 300 & echo $! > {pidfile}; wait"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    await _poll_until(lambda: pidfile.exists() and bool(pidfile.read_text().strip()))

    await terminate_tree(process, 0.5)

    assert process.returncode is not None
    await _poll_until(lambda: _state(int(pidfile.read_text())) in {None, "Z"})


def test_only_absolute_programs_found_on_path_are_cached(tmp_path: Path) -> None:
    (tmp_path / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "tool").chmod(0o755)

    assert child._executable("sh", {"PATH": os.defpath}) is not None
    assert child._executable("./tool", {"PATH": str(tmp_path)}) is None  # a path, not a name
    assert child._executable("tool", {"PATH": "."}) is None  # relative to the child's cwd

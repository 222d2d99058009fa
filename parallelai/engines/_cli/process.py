"""Child processes for engines: own session, streamed lines, capped output, whole-tree kill."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio

from parallelai.engines._cli.child import Child
from parallelai.engines.agent_tags import current_tag, stop_tagged

# What every child may see of our environment; engines add what they need (keys, base URLs).
ENV_ALLOW_LIST = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TZ", "TMPDIR",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "http_proxy", "https_proxy", "no_proxy", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
)  # fmt: skip
_ALLOWED = frozenset(ENV_ALLOW_LIST)


def child_env(extra: Mapping[str, str] | None = None, passthrough: Sequence[str] = ()) -> dict[str, str]:
    """The environment for a child: the allow-list, `LC_*`, named pass-throughs, then `extra`."""
    names = _ALLOWED.union(passthrough) if passthrough else _ALLOWED
    environ = os.environ
    # Keys first, values only for the few that are kept: `os.environ.items()` decodes every value
    # (~130 µs per child with 40 variables, on the loop thread).
    env = {k: environ[k] for k in environ if k in names or k.startswith("LC_")}
    env.update(extra or {})
    return env


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
    returncode: int
    stdout: str  # empty when lines were handed to `on_line` instead
    stderr: str
    truncated: bool  # output went past the cap and the rest was dropped


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    on_line: Callable[[str], None] | None = None,
    max_output_bytes: int = 10 * 1024 * 1024,
    kill_grace_s: float = 2.0,
) -> ProcessOutcome:
    """Run `argv` in its own session and return once it and everything it started are gone.

    Stdout is either collected (capped at `max_output_bytes`) or, with `on_line`, handed over one
    line at a time. On cancellation (timeout, cancel) the whole process group gets SIGTERM, then
    SIGKILL after `kill_grace_s`, inside a shielded scope so the tree is always reaped.
    """
    # Synchronous, on the loop thread: Popen returns once the child has exec'd (well under a
    # millisecond; a worker thread would not overlap it, the GIL is held through the vfork). So no
    # cancel can land mid-spawn, and from here on the `finally` owns the child.
    process = Child.spawn(argv, cwd=cwd, env=env, stdin=stdin is not None)
    stdout = _CappedBuffer(max_output_bytes)
    stderr = _CappedBuffer(64 * 1024)
    drained = _Countdown(2)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_pump, process, process.stdout, stdout, on_line, drained)
            group.start_soon(_pump, process, process.stderr, stderr, None, drained)
            if stdin is not None:  # beside the pumps: a child that answers as it reads cannot jam
                await process.write_stdin(stdin)
            returncode = await process.wait()
            # Leftover members of the group (a background grandchild) would hold the pipes open.
            _signal_group(process, signal.SIGKILL)
            if not drained.done:  # usually both pipes reached their end before the exit was seen
                with anyio.move_on_after(kill_grace_s) as straggling:
                    await drained.wait()
                if straggling.cancelled_caught:
                    # Something outside the group but in the child's session still holds the pipes.
                    # Scanning /proc costs milliseconds, so it is only done when it is needed.
                    _signal_sessions({process.pid}, signal.SIGKILL)
    finally:
        with anyio.CancelScope(shield=True):
            await terminate_tree(process, kill_grace_s)
    return ProcessOutcome(returncode, stdout.text(), stderr.text(), stdout.truncated)


class ProcessHandle(Protocol):
    """What `terminate_tree` needs of a process: a `Child`, or anyio's `Process` (the acp engine)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    async def aclose(self) -> None: ...


async def terminate_tree(process: ProcessHandle, grace_s: float) -> None:
    """SIGTERM the process tree, SIGKILL it after `grace_s`, and reap the leader.

    The tree is the leader's process group plus every process in the leader's session or in a
    session one of its descendants started (Claude Code's Bash tool runs its shell in a session of
    its own). Those sessions are found through /proc (Linux) while the leader still lives: once it
    dies its descendants are orphans nobody could trace back to us, but they keep their session.
    When an attempt's tag is current, everything carrying it is stopped as well, beside the tree:
    that also reaches a descendant that left its session after its parent died (a double fork).
    """
    if process.returncode is None:
        # Interrupted (timeout, cancel): the tree may reach into sessions of its own.
        tag = current_tag()
        sessions = {process.pid} | _descendant_sessions(process.pid)
        _signal_group(process, signal.SIGTERM)
        _signal_sessions(sessions, signal.SIGTERM)
        async with anyio.create_task_group() as group:
            if tag is not None:  # with the same grace, at the same time: no second wait
                group.start_soon(stop_tagged, tag, grace_s)
            with anyio.move_on_after(grace_s):
                await process.wait()
            sessions |= _descendant_sessions(process.pid)
            _signal_sessions(sessions, signal.SIGKILL)
    # After a normal exit the group kill suffices: the pipes drained, so nothing else holds them.
    _signal_group(process, signal.SIGKILL)
    if process.returncode is None:
        await process.wait()
    await process.aclose()


def _signal_group(process: ProcessHandle, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _signal_sessions(sessions: set[int], signum: int) -> None:
    for pid, _ppid, sid in _process_table():
        if sid in sessions and pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)


def _descendant_sessions(leader: int) -> set[int]:
    """The session ids of the leader's descendants."""
    children: dict[int, list[tuple[int, int]]] = {}
    for pid, ppid, sid in _process_table():
        children.setdefault(ppid, []).append((pid, sid))
    sessions: set[int] = set()
    pending = [leader]
    while pending:
        for pid, sid in children.get(pending.pop(), []):
            sessions.add(sid)
            pending.append(pid)
    return sessions


def _process_table() -> list[tuple[int, int, int]]:
    """(pid, ppid, sid) of every process, from /proc; empty where there is no /proc."""
    table = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue  # it exited while we looked
        # The fields after the parenthesised command: state, ppid, pgrp, session, ...
        _state, ppid, _pgrp, sid, *_ = stat[stat.rindex(")") + 2 :].split()
        table.append((int(name), int(ppid), int(sid)))
    return table


class _CappedBuffer:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: list[bytes] = []
        self._size = 0
        self.truncated = False

    def add(self, data: bytes) -> None:
        room = self.limit - self._size
        if len(data) > room:
            self.truncated = True
            data = data[: max(room, 0)]
        if data:
            self._chunks.append(data)
            self._size += len(data)

    def text(self) -> str:
        return b"".join(self._chunks).decode("utf-8", errors="replace")


class _Countdown:
    """Set once `count` parties have arrived."""

    def __init__(self, count: int) -> None:
        self._count = count
        self._event = anyio.Event()

    @property
    def done(self) -> bool:
        return self._count <= 0

    def arrive(self) -> None:
        self._count -= 1
        if self._count <= 0:
            self._event.set()

    async def wait(self) -> None:
        await self._event.wait()


async def _pump(
    child: Child,
    fd: int,
    sink: _CappedBuffer,
    on_line: Callable[[str], None] | None,
    done: _Countdown,
) -> None:
    try:
        await _read_all(child, fd, sink, on_line)
    finally:
        done.arrive()


async def _read_all(
    child: Child, fd: int, sink: _CappedBuffer, on_line: Callable[[str], None] | None
) -> None:
    pending = b""
    while chunk := await child.read(fd):
        if on_line is None:
            sink.add(chunk)
            continue
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            on_line(line.decode("utf-8", errors="replace"))
        if len(pending) > sink.limit:  # one unterminated line past the cap: drop it
            sink.truncated = True
            pending = b""
    if on_line is not None and pending:
        on_line(pending.decode("utf-8", errors="replace"))

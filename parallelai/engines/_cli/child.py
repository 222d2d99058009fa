"""A child process driven straight from the event loop: its pidfd and raw non-blocking pipes.

`anyio.open_process` goes through asyncio's subprocess transport, a pipe transport and a stream
reader per pipe, anyio's wrappers and a child watcher: for a child that lives a millisecond that
machinery costs more loop time than the fork. Here a child is a `subprocess.Popen`, started on
the loop thread (it returns once the child has exec'd, well under a millisecond; the GIL is held
through the vfork, so a worker thread would only add a hop), whose exit is awaited through its
pidfd and whose pipes are read with `os.read` whenever the loop reports them readable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio

from parallelai.engines.agent_tags import tagged_env

_CHUNK = 64 * 1024
# Resolved programs by (name, PATH), as a shell's hash table: otherwise Popen joins every PATH
# entry in the parent and the child tries an execve on each until one works, all while the loop
# thread waits (~30 µs of ~150 µs per spawn with a PATH of 14 entries). Only absolute results are
# kept (a relative PATH entry is looked up from the child's working directory, not ours); a cached
# program that fails to start is looked up again. As with a shell's hash, a program installed
# later in an earlier PATH directory is not noticed until the cached one stops working.
_resolved: dict[tuple[str, str | None], str] = {}


class Child:
    """A started child with its stdout and stderr (and stdin, if asked for) as pipes we own."""

    def __init__(self, popen: subprocess.Popen[bytes], stdin: int | None, stdout: int, stderr: int) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._pidfd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            # No pidfd (not Linux, a kernel before 5.3, out of descriptors): `wait` uses a thread.
            self._pidfd = os.pidfd_open(self.pid)

    @classmethod
    def spawn(
        cls, argv: Sequence[str], *, cwd: Path | None, env: Mapping[str, str] | None, stdin: bool
    ) -> Child:
        """Start `argv` in a session of its own; OSError when it cannot be started (as Popen)."""
        env = tagged_env(env)  # the attempt's tag, so its descendants can be found wherever they go
        fds: list[int] = []
        try:
            out_r, out_w = _pipe(fds)
            err_r, err_w = _pipe(fds)
            in_r, in_w = _pipe(fds) if stdin else (subprocess.DEVNULL, None)
            popen = _popen(argv, cwd, env, in_r, out_w, err_w)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        # The child holds its ends now; ours must go, or the pipes would never report their end.
        for fd in (out_w, err_w, in_r):
            if fd >= 0:
                os.close(fd)
        for ours in (out_r, err_r, in_w):
            if ours is not None:
                os.set_blocking(ours, False)
        return cls(popen, in_w, out_r, err_r)

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    async def wait(self) -> int:
        """Wait, without blocking the loop, until the child has exited, and reap it."""
        while self._popen.poll() is None:
            if self._pidfd is not None:
                await anyio.wait_readable(self._pidfd)  # readable once the child has exited
            else:
                # WNOWAIT leaves the reaping to `poll`, so a thread abandoned by a cancel is harmless.
                await anyio.to_thread.run_sync(_wait_exited, self.pid, abandon_on_cancel=True)
        return self._popen.returncode

    async def read(self, fd: int) -> bytes:
        """The next chunk from one of our pipes; empty at its end."""
        while True:
            try:
                return os.read(fd, _CHUNK)
            except BlockingIOError:
                await anyio.wait_readable(fd)

    async def write_stdin(self, data: bytes) -> None:
        """Write all of `data` to the child's stdin, then close it; a child that stops reading early
        (a closed pipe) just does not get the rest."""
        assert self.stdin is not None
        view = memoryview(data)
        try:
            while view:
                try:
                    view = view[os.write(self.stdin, view) :]
                except BlockingIOError:
                    await anyio.wait_writable(self.stdin)
        except BrokenPipeError:
            pass
        finally:
            os.close(self.stdin)
            self.stdin = None

    async def aclose(self) -> None:
        """Close our ends of the pipes and make sure the child is reaped (killing it if need be)."""
        for fd in (self.stdin, self.stdout, self.stderr):
            if fd is not None and fd >= 0:
                os.close(fd)
        self.stdin = None
        self.stdout = self.stderr = -1
        with anyio.CancelScope(shield=True):
            if self.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                await self.wait()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def _pipe(opened: list[int]) -> tuple[int, int]:
    read_end, write_end = os.pipe()  # close-on-exec: the child gets only what Popen dup2()s
    opened += (read_end, write_end)
    return read_end, write_end


def _popen(
    argv: Sequence[str], cwd: Path | None, env: Mapping[str, str] | None, stdin: int, stdout: int, stderr: int
) -> subprocess.Popen[bytes]:
    env_dict = dict(env) if env is not None else None
    executable = _executable(argv[0], env_dict)

    def start(program: str | None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(argv),
            executable=program,  # argv[0], what the child sees as its name, stays as given
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            env=env_dict,
            start_new_session=True,
        )

    if executable is None:
        return start(None)
    try:
        return start(executable)
    except OSError:  # moved or removed since, or not runnable: let Popen search as it would
        _resolved.pop((argv[0], _search_path(env_dict)), None)
        return start(None)


def _search_path(env: Mapping[str, str] | None) -> str | None:
    return (env if env is not None else os.environ).get("PATH")


def _executable(name: str, env: Mapping[str, str] | None) -> str | None:
    """The absolute path Popen's PATH search would find for `name`, or None to let it search."""
    if os.sep in name:
        return None  # not looked up on PATH at all
    key = (name, _search_path(env))
    found = _resolved.get(key)
    if found is None:
        found = shutil.which(name, path=key[1] if key[1] is not None else os.defpath)
        if found is None or not os.path.isabs(found):
            return None
        _resolved[key] = found
    return found


def _wait_exited(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)

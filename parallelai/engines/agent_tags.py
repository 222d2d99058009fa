"""Agent tags: every agent process, and all it starts, carries its attempt's tag, so none can escape.

A tag is `OWNER/RUN/TASK/ATTEMPT`, where OWNER names the executing process instance. It travels in
the environment variable `PARALLELAI_AGENT`: descendants inherit it whatever they do with their
process group or session (a double fork, `setsid`, `nohup ... & disown`), so the whole tree of an
attempt is found by reading /proc/*/environ — the technique of Jenkins' ProcessTreeKiller and its
BUILD_ID cookie. Two things use it:

- `stop_tagged`, when an attempt is interrupted (timeout, cancel): the process-group and session
  kills miss descendants that left both and whose parent has died.
- the warden, a small helper process that outlives us on purpose, one per process: it is told
  each OWNER of ours over a pipe and waits for our end of that pipe to close — our exit, however
  abrupt: the kernel closes it even after SIGKILL — then stops every process still tagged
  `OWNER/...` for any of them.

A process that rewrites its environment block in place (`setproctitle` does this), or starts a
program with a fresh environment (`env -i`), sheds the tag and escapes both.

Over the project's ~400 lines on purpose: the tag, finding and stopping tagged processes, and the
warden are one mechanism with one invariant (every tagged process of a dead owner is stopped);
kept together, the whole of it can be checked in one read.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass

import anyio
from anyio.lowlevel import RunVar, checkpoint

from parallelai.processes import (
    ProcessIdentity,
    identity_and_environ,
    pidfd_of,
    pids,
    read_environ,
    send_signal,
)

__all__ = [
    "AGENT_TAG_ENV",
    "current_tag",
    "ensure_warden",
    "find_tagged",
    "stop_tagged",
    "tagged_env",
    "tagging",
]

AGENT_TAG_ENV = "PARALLELAI_AGENT"

_ENTRY = AGENT_TAG_ENV.encode() + b"="
_HAS_PROC = os.path.exists("/proc/self/environ")
_POLL_S = 0.05  # how often a process without a pidfd is looked at while we wait for it to go
_KILL_PATIENCE_S = 5.0  # SIGKILL rounds stop here: a process stuck in the kernel cannot be killed
_WARDEN_GRACE_S = 2.0
_WARDEN_RESTART_S = 1.0  # a warden that died is started again, but never more often than this

_log = logging.getLogger(__name__)
_tag: ContextVar[str | None] = ContextVar("parallelai_agent_tag", default=None)


def current_tag() -> str | None:
    """The tag agents started here get, if any."""
    return _tag.get()


class tagging:
    """Tag every agent started inside the block (and in tasks started inside it) with `tag`.

    A class, not a generator-based context manager: it wraps every attempt of every run.
    """

    __slots__ = ("_tag", "_token")

    def __init__(self, tag: str) -> None:
        if not tag or "\0" in tag or "\n" in tag or "//" in tag or tag[0] == "/" or tag[-1] == "/":
            raise ValueError(f"an agent tag is OWNER/RUN/TASK/ATTEMPT, no part empty: {tag!r}")
        self._tag = tag
        self._token: Token[str | None] | None = None

    def __enter__(self) -> None:
        self._token = _tag.set(self._tag)

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _tag.reset(self._token)


def tagged_env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    """`env` for a new agent: with `PARALLELAI_AGENT` set to the current tag, if there is one.

    `None` means "inherit ours", so with a tag the result starts from `os.environ`; without a tag
    `env` comes back as it is. The first tagged agent of each OWNER has the warden watch it.
    """
    tag = _tag.get()
    if tag is None:
        return env if env is None or isinstance(env, dict) else dict(env)
    ensure_warden(tag.partition("/")[0])
    tagged = dict(os.environ if env is None else env)
    tagged[AGENT_TAG_ENV] = tag
    return tagged


def find_tagged(prefix: str) -> list[ProcessIdentity]:
    """The live processes whose tag is `prefix` or lies under it (`prefix/...`), this one excepted."""
    return _matching(_scan(), os.fsencode(prefix))


async def stop_tagged(prefix: str, grace_s: float) -> int:
    """Stop every process tagged `prefix` or `prefix/...`; return how many there were.

    SIGTERM, up to `grace_s` for them to exit, then SIGKILL for what is left and for whatever was
    forked meanwhile, scanning again until a scan finds nothing. Every signal is checked against
    the identity the scan saw, so a pid that changed hands is never hit.
    """
    wanted = os.fsencode(prefix)
    targets = _matching(await _shared_scan(), wanted)
    if not targets:
        return 0
    found = set(targets)
    for target in targets:
        send_signal(target, signal.SIGTERM)
    with anyio.move_on_after(grace_s):
        await _all_gone(targets)
    with anyio.move_on_after(_KILL_PATIENCE_S):
        while left := _matching(await _shared_scan(), wanted):
            found.update(left)
            for target in left:
                send_signal(target, signal.SIGKILL)
            await _all_gone(left)  # before scanning again, so the next scan sees only newcomers
    return len(found)


def ensure_warden(owner: str) -> None:
    """Make sure a warden stops `owner`'s agents once this process is gone, however it ends.

    One warden per process watches every owner it has been told about: an owner is one open
    service, and a process may open many (a test suite does). It is started on the first call, and
    again in a forked child (which must not keep its parent's warden waiting) or if it died (at most
    once a second, so a warden that cannot start does not cost a process start per agent).
    """
    if not owner or "/" in owner or "\0" in owner or "\n" in owner:
        raise ValueError(f"an agent tag's owner is one part, without '/' or a line break: {owner!r}")
    warden = _warden
    if warden is not None and owner in warden.owners and warden.watching():
        return  # every spawn after the first comes through here: a set lookup and a waitpid
    if not _HAS_PROC or getattr(sys, "frozen", False) or not sys.executable:
        return  # nothing it could find without /proc; a frozen app's executable is not a Python
    with _warden_lock:
        _watch(owner)


# The warden, run as `python -I -S -c _WARDEN_SCRIPT PID GRACE_S` (PID: ours, for whoever reads `ps`).
# Standard library only, so it starts in milliseconds and nothing it imports can be broken by the
# environment or the venv. It reads the owners to watch, one a line, until the pipe's end.
_WARDEN_SCRIPT = """\
import os, signal, sys, time

owners, pending = set(), b""
try:
    while True:
        chunk = os.read(0, 4096)
        if not chunk:  # our parent held the only write end: it has exited, or was killed
            break
        *lines, pending = (pending + chunk).split(b"\\n")
        owners.update(line for line in lines if line)
except OSError:
    pass
entries = [b"\\0PARALLELAI_AGENT=" + owner + b"/" for owner in owners]
me = os.getpid()


def read(directory, name):
    fd = os.open(name, os.O_RDONLY, dir_fd=directory)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def started(stat):  # start ticks of a running process; None for a zombie
    fields = stat[stat.rindex(b")") + 2 :].split()
    return None if fields[0] in (b"Z", b"X") else fields[19]


def tagged():  # (pid, start ticks) of every process tagged OWNER/... for one of our owners
    found = []
    for name in os.listdir("/proc") if entries else ():
        if not name.isdigit() or int(name) == me:
            continue
        try:  # one directory descriptor: both reads see the same process, even if its pid is reused
            directory = os.open("/proc/" + name, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            environ = b"\\0" + read(directory, "environ")
            if any(entry in environ for entry in entries):
                found.append((int(name), started(read(directory, "stat"))))
        except OSError:
            pass
        finally:
            os.close(directory)
    return [target for target in found if target[1] is not None]


def running(target):
    try:
        with open("/proc/%d/stat" % target[0], "rb") as file:
            return started(file.read()) == target[1]
    except OSError:
        return False


def send(target, signum):
    try:
        pidfd = os.pidfd_open(target[0])
    except ProcessLookupError:
        return
    except (AttributeError, OSError):
        pidfd = None
    try:  # checked after the pidfd pinned the process: a pid that changed hands is never hit
        if running(target):
            if pidfd is None:
                os.kill(target[0], signum)
            else:
                signal.pidfd_send_signal(pidfd, signum)
    except OSError:
        pass
    finally:
        if pidfd is not None:
            os.close(pidfd)


targets = tagged()
for target in targets:
    send(target, signal.SIGTERM)
deadline = time.monotonic() + float(sys.argv[2])
while targets and time.monotonic() < deadline:
    time.sleep(0.05)
    targets = [target for target in targets if running(target)]
for _ in range(100):  # bounded: a process stuck in the kernel cannot be killed
    left = tagged()
    if not left:
        break
    for target in left:
        send(target, signal.SIGKILL)
    time.sleep(0.05)
"""


@dataclass(slots=True)
class _Warden:
    """The running warden: our child, in a session of its own, reading a pipe only we can close.

    It stays our child rather than being double-forked away: starting it costs one Popen, no wait
    for an intermediate process, and it exits only once we have, when init (or the nearest
    subreaper) reaps it. Should it die before us, `watching()` reaps it on the next tagged spawn,
    so no zombie of ours waits for long, and never more than one.
    """

    process: subprocess.Popen[bytes] | None  # None: it could not be started
    pipe: int  # our write end, -1 once closed
    started_at: float
    owners: set[str]

    @classmethod
    def start(cls, owners: set[str]) -> _Warden:
        read_end, write_end = os.pipe()  # both close-on-exec: no agent we start inherits either
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WARDEN_SCRIPT, str(os.getpid()), str(_WARDEN_GRACE_S)],
                stdin=read_end,
                # Never our terminal or our pipes: whoever reads our output must see its end when we exit.
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd="/",  # holds no directory busy
                env={k: os.environ[k] for k in ("PATH", "LD_LIBRARY_PATH") if k in os.environ},
                start_new_session=True,  # out of reach of signals meant for our group or our terminal
            )
        except OSError as error:
            os.close(write_end)
            _log.warning("cannot start the agent warden (%s): agents may outlive a crash", error)
            return cls(None, -1, time.monotonic(), owners)
        finally:
            os.close(read_end)
        # It reads all the time; should it ever stop, a lost owner beats a loop thread stuck in write.
        os.set_blocking(write_end, False)
        warden = cls(process, write_end, time.monotonic(), set())
        for owner in owners:
            warden.tell(owner)
        return warden

    def watching(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tell(self, owner: str) -> None:
        self.owners.add(owner)
        try:
            os.write(self.pipe, os.fsencode(owner) + b"\n")  # one short write: the pipe keeps it whole
        except OSError as error:  # it died (EPIPE): `watching` notices, the next spawn restarts it
            _log.warning("cannot tell the agent warden about %s (%s)", owner, error)

    def close(self) -> None:
        if self.pipe >= 0:
            os.close(self.pipe)
            self.pipe = -1


_warden: _Warden | None = None
_warden_lock = threading.Lock()


def _watch(owner: str) -> None:
    global _warden
    warden = _warden
    if warden is not None and warden.watching():
        if owner not in warden.owners:
            warden.tell(owner)
        return
    if warden is not None:
        warden.owners.add(owner)  # for the next one, should this one not be replaced yet
        if time.monotonic() - warden.started_at < _WARDEN_RESTART_S:
            return
        warden.close()
    _warden = _Warden.start(warden.owners if warden is not None else {owner})


def _forget_warden_after_fork() -> None:
    # A forked child holding its parent's write end would keep the parent's warden waiting after
    # the parent died. The child's own agents get a warden of its own on its first tagged spawn.
    global _warden, _warden_lock
    _warden_lock = threading.Lock()  # another thread may have held it at the fork
    if _warden is not None:
        _warden.close()
        _warden = None


os.register_at_fork(after_in_child=_forget_warden_after_fork)


def _scan() -> list[tuple[ProcessIdentity, list[bytes]]]:
    """Every tagged process but this one, with its tags (one, unless its environment repeats it)."""
    me = os.getpid()
    found = []
    for pid in pids():
        if pid == me:
            continue
        environ = read_environ(pid)
        if environ is None or _ENTRY not in environ:  # most processes: one read, no parsing
            continue
        read = identity_and_environ(pid)  # again, tied to the identity it will be signalled by
        if read is None:
            continue
        identity, environ = read
        tags = [entry[len(_ENTRY) :] for entry in environ.split(b"\0") if entry.startswith(_ENTRY)]
        if tags:
            found.append((identity, tags))
    return found


class _PendingScan:
    def __init__(self) -> None:
        self.result: list[tuple[ProcessIdentity, list[bytes]]] = []
        self.done = anyio.Event()


_pending_scan: RunVar[_PendingScan | None] = RunVar("parallelai_agent_scan", default=None)


async def _shared_scan() -> list[tuple[ProcessIdentity, list[bytes]]]:
    """A scan that starts after the call, shared by every caller that asks before it starts.

    When many attempts are cancelled at once (a shutdown with hundreds of agents), each would
    otherwise read the environment of every process on the machine, hundreds of times over.
    """
    pending = _pending_scan.get()
    if pending is not None:
        await pending.done.wait()
        return pending.result
    pending = _PendingScan()
    _pending_scan.set(pending)
    try:
        await checkpoint()  # the others asking now join this one
    finally:
        _pending_scan.set(None)  # from here on, a new caller needs a scan that starts after it
        pending.result = _scan()
        pending.done.set()
    return pending.result


def _matching(scan: Iterable[tuple[ProcessIdentity, list[bytes]]], wanted: bytes) -> list[ProcessIdentity]:
    below = wanted + b"/"
    return [identity for identity, tags in scan if any(t == wanted or t.startswith(below) for t in tags)]


async def _all_gone(targets: Iterable[ProcessIdentity]) -> None:
    async with anyio.create_task_group() as group:
        for target in targets:
            group.start_soon(_gone, target)


async def _gone(target: ProcessIdentity) -> None:
    pidfd = pidfd_of(target)
    if pidfd is not None:
        try:
            await anyio.wait_readable(pidfd)  # readable once the process has exited
        finally:
            os.close(pidfd)
        return
    # No pidfd (or already gone): without one, nothing tells us when another's child exits.
    while target.alive():  # noqa: ASYNC110
        await anyio.sleep(_POLL_S)

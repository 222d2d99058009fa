"""Process identities that survive PID reuse, read from /proc (Linux), and signals that reach only the process meant.

Why not psutil: its `send_signal` checks the process, then calls `kill` (the window a pidfd closes
here), it cannot read a process's identity and environment through one /proc/PID descriptor, and
scanning every environment for agent tags takes it 2.7 ms against 0.35 ms here (77 processes).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
from dataclasses import dataclass

_PROC = "/proc"
_BOOT_ID = "/proc/sys/kernel/random/boot_id"
_HAS_PROC = os.path.exists("/proc/self/stat")
_STARTTIME = 19  # field 22 of /proc/PID/stat, counted from field 3 (the state), after the command
_READ_CHUNK = 64 * 1024
_DEAD = frozenset("ZX")  # a zombie has exited; only its parent has not reaped it yet

_PR_SET_DUMPABLE = 4  # <linux/prctl.h>

_boot_id: str | None = None
_current: ProcessIdentity | None = None
_non_dumpable = False
log = logging.getLogger("parallelai")


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """One process for as long as the machine runs: a pid alone names whichever process got it last.

    The kernel hands a freed pid out again, so a pid plus the tick it started at (and the boot it
    started in, for identities kept across a reboot) is what tells "still the same process" from
    "another process that happens to have its pid".
    """

    boot_id: str  # /proc/sys/kernel/random/boot_id ("" where unknown)
    pid: int
    start_ticks: int  # field 22 (starttime) of /proc/PID/stat (0 where unknown)

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        """The process that has `pid` now (a zombie included); None when there is none."""
        if not _HAS_PROC:
            return cls("", pid, 0) if _exists(pid) else None
        stat = _read_stat(f"{_PROC}/{pid}/stat")
        if stat is None:
            return None
        return cls(boot_id(), pid, stat[1])

    @classmethod
    def current(cls) -> ProcessIdentity:
        """This process; after `os.fork` the child's own identity, not its parent's."""
        global _current
        pid = os.getpid()
        if _current is None or _current.pid != pid:  # the pid changes with every fork
            identity = cls.of(pid)
            assert identity is not None  # we are running, so /proc/self exists
            _current = identity
        return _current

    def alive(self) -> bool:
        """Whether this very process still runs: same boot, same pid, same start, not a zombie."""
        if not _HAS_PROC:
            return _exists(self.pid)
        if self.boot_id and self.boot_id != boot_id():
            return False
        stat = _read_stat(f"{_PROC}/{self.pid}/stat")
        return stat is not None and stat[1] == self.start_ticks and stat[0] not in _DEAD


def make_non_dumpable() -> bool:
    """Keep this process's memory and environment from the agents it starts (Linux; elsewhere a no-op).

    A child's environment is allow-listed, but the kernel lets any process of the same user read
    `/proc/PID/environ` (and attach a debugger) unless PID is non-dumpable, so an agent could read
    every key this process was started with through `/proc/$PPID/environ`. Being non-dumpable also
    means no core dumps. It is not inherited across `exec`: the agents stay dumpable, so their
    tags can still be read (agent_tags.py). Idempotent; True once this process is non-dumpable.
    """
    global _non_dumpable
    if _non_dumpable or not sys.platform.startswith("linux"):
        return _non_dumpable
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        failed = libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0
    except (OSError, AttributeError):  # no libc to call (a static or unusual Python)
        failed = True
    if failed:
        log.warning("could not make this process non-dumpable: agents could read its environment")
        return False
    _non_dumpable = True
    return True


def boot_id() -> str:
    """This boot's id ("" where the kernel does not tell): pids and start ticks restart with it."""
    global _boot_id
    if _boot_id is None:
        try:
            with open(_BOOT_ID, encoding="ascii") as file:
                _boot_id = file.read().strip()
        except OSError:
            _boot_id = ""
    return _boot_id


def pids() -> list[int]:
    """The pid of every process (not thread) on the system; empty where there is no /proc."""
    try:
        names = os.listdir(_PROC)
    except OSError:
        return []
    return [int(name) for name in names if name.isdigit()]


def read_environ(pid: int) -> bytes | None:
    """`pid`'s environment as the kernel shows it (`KEY=value` entries, each ending in NUL); None
    when it is gone or not ours to read (another user's, or a non-dumpable process). A zombie's is empty.
    """
    try:
        fd = os.open(f"{_PROC}/{pid}/environ", os.O_RDONLY)
    except OSError:
        return None
    try:
        return _read_all(fd)
    except OSError:  # ESRCH: it exited between the open and the read
        return None
    finally:
        os.close(fd)


def identity_and_environ(pid: int) -> tuple[ProcessIdentity, bytes] | None:
    """`pid`'s identity and environment, both read from the same process; None when it is gone.

    Both are read through one open /proc/PID directory: that descriptor stays bound to the process
    it was opened for, so were the pid to change hands between the two reads, the second would fail
    instead of describing the newcomer.
    """
    try:
        directory = os.open(f"{_PROC}/{pid}", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        stat = _read_stat("stat", directory)
        if stat is None or stat[0] in _DEAD:
            return None
        environ_fd = os.open("environ", os.O_RDONLY, dir_fd=directory)
        try:
            environ = _read_all(environ_fd)
        finally:
            os.close(environ_fd)
        return ProcessIdentity(boot_id(), pid, stat[1]), environ
    except OSError:
        return None
    finally:
        os.close(directory)


def send_signal(identity: ProcessIdentity, signum: int) -> bool:
    """Send `signum` to the process `identity` names, only if that process still runs.

    False when it does not (gone, a zombie, or its pid now belongs to another process) or may not
    be signalled by us. With a pidfd (Linux 5.3+) there is no window at all: the pidfd is opened
    first and pins whatever process has the pid, then the identity is checked, then the signal
    goes through that pidfd. Without one, a check and a kill leave a window of microseconds.
    """
    try:
        pidfd = os.pidfd_open(identity.pid)
    except ProcessLookupError:
        return False
    except (AttributeError, OSError):  # no pidfds here (not Linux, an old kernel, out of descriptors)
        if not identity.alive():
            return False
        try:
            os.kill(identity.pid, signum)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    try:
        if not identity.alive():
            return False
        signal.pidfd_send_signal(pidfd, signum)
    except (ProcessLookupError, PermissionError):
        return False
    finally:
        os.close(pidfd)
    return True


def pidfd_of(identity: ProcessIdentity) -> int | None:
    """A pidfd for the process `identity` names (readable once it has exited), or None when it is
    gone or pidfds are not available. The caller closes it."""
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(identity.pid)
        if identity.alive():  # checked after the open: the pidfd cannot have moved on to a newcomer
            return pidfd
        os.close(pidfd)
    return None


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: it exists
        return True
    return True


def _read_stat(path: str, directory: int | None = None) -> tuple[str, int] | None:
    """(state, start ticks) from a /proc/PID/stat, None when the process is gone."""
    try:
        fd = os.open(path, os.O_RDONLY, dir_fd=directory)
    except OSError:
        return None
    try:
        stat = os.read(fd, 4096)  # a stat line is far shorter, and /proc hands it over in one read
    except OSError:
        return None
    finally:
        os.close(fd)
    # The command sits in parentheses and may itself contain spaces and parentheses.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return fields[0].decode("ascii", "replace"), int(fields[_STARTTIME])


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, _READ_CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)

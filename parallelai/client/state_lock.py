"""The state-dir lock: one daemon per state dir, and which process holds it.

A daemon takes `daemon.lock` (flock) before anything else and writes its pid into it. The kernel
drops the lock when the process ends, even by SIGKILL; the pid left behind is then dead, so it
reads as nobody (a daemon that ends cleanly empties the file). A daemon that finds the lock taken
exits with `EXIT_STATE_DIR_BUSY`: whoever started it waits for the holder to come up instead of
reporting a failure.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from parallelai.client.discovery import discovery_path, pid_alive, read_discovery
from parallelai.client.errors import DaemonRunningError, StateDirBusyError
from parallelai.paths import ensure_private_dir, state_dir

LOCK_NAME = "daemon.lock"
EXIT_STATE_DIR_BUSY = os.EX_TEMPFAIL  # 75: not a failure, another daemon is (or is becoming) the one


@contextlib.contextmanager
def hold_state_dir(directory: Path | None = None) -> Iterator[None]:
    """Hold the state dir for this process; StateDirBusyError (or DaemonRunningError) if taken."""
    directory = ensure_private_dir(directory or state_dir())
    descriptor = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            running = read_discovery(discovery_path(directory))
            if running is not None:
                raise DaemonRunningError(running.url, running.pid, directory) from None
            raise StateDirBusyError(directory, lock_holder(directory)) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)  # released: this process no longer holds it
    finally:
        os.close(descriptor)


def lock_holder(directory: Path | None = None) -> int | None:
    """The pid of the live process that holds the state dir, or None.

    None also for the moment between a daemon taking the lock and writing its pid. Reading never
    takes the lock, so it cannot make a daemon that is starting lose it.
    """
    try:
        text = ((directory or state_dir()) / LOCK_NAME).read_text()
    except FileNotFoundError:
        return None
    try:
        pid = int(text.strip())
    except ValueError:
        return None  # empty: released, or taken a moment ago and the pid not written yet
    return pid if pid_alive(pid) else None

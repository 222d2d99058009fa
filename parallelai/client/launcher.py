"""Starting a detached daemon and stopping a running one, for the CLI and for clients."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from parallelai.client.discovery import DaemonInfo, pid_alive, read_discovery
from parallelai.client.errors import DaemonError
from parallelai.client.state_lock import EXIT_STATE_DIR_BUSY, lock_holder
from parallelai.paths import ensure_private_dir, state_dir

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
ORIGINS_ENV = "PARALLELAI_ALLOWED_ORIGINS"  # web origins the daemon lets in, comma-separated
LOG_NAME = "daemon.log"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
_POLL_S = 0.05


def daemon_command(
    host: str, port: int, store: Path | None, allow_remote: bool, allowed_origins: Sequence[str] = ()
) -> list[str]:
    # -P: not the working directory first on sys.path, where a `parallelai` of the user's project
    # (another checkout, a module of that name) would run as the daemon instead of this one.
    command = [sys.executable, "-P", "-m", "parallelai.server.daemon", "--host", host, "--port", str(port)]
    if store is not None:
        command += ["--store", str(store)]
    if allow_remote:
        command.append("--allow-remote")
    for origin in allowed_origins:
        command += ["--allow-origin", origin]
    return command


async def start_detached(
    host: str,
    port: int,
    store: Path | None = None,
    allow_remote: bool = False,
    allowed_origins: Sequence[str] = (),
    timeout_s: float = START_TIMEOUT_S,
) -> DaemonInfo:
    """Start the daemon in its own session, logging to the state dir; return once a daemon is reachable.

    Many clients may do this at once. Each spawns a daemon; one takes the state dir and the others
    exit with EXIT_STATE_DIR_BUSY, and their starters then wait for the holder to come up and
    return it. Should the holder end without coming up, the start is tried again.
    """
    log_path = ensure_private_dir(state_dir()) / LOG_NAME
    command = daemon_command(host, port, store, allow_remote, allowed_origins)
    with anyio.move_on_after(timeout_s):
        while True:
            running = read_discovery()
            if running is not None:
                return running
            started = await _start_one(command, log_path)
            if started is not None:
                return started
            holder = await _wait_for_holder()
            if holder is not None:
                return holder
    raise DaemonError(f"the daemon did not come up within {timeout_s:.0f}s; its log: {log_path}")


async def _start_one(command: list[str], log_path: Path) -> DaemonInfo | None:
    """Spawn a daemon and wait until it is up; None if another daemon held the state dir."""
    process = _spawn(command, log_path)
    while True:
        info = read_discovery()
        if info is not None and info.pid == process.pid:
            return info
        status = process.poll()
        if status == EXIT_STATE_DIR_BUSY:
            return None
        if status is not None:
            raise DaemonError(f"the daemon exited with status {status}; its log: {log_path}")
        await anyio.sleep(_POLL_S)


async def _wait_for_holder() -> DaemonInfo | None:
    """The daemon that holds the state dir, once it is up; None once nobody holds it."""
    while True:
        info = read_discovery()
        if info is not None:
            return info
        if lock_holder() is None:
            return None
        await anyio.sleep(_POLL_S)


async def stop_daemon(timeout_s: float = STOP_TIMEOUT_S) -> DaemonInfo | None:
    """SIGTERM the daemon and wait for it to go (SIGKILL past the deadline); None if none ran."""
    info = read_discovery()
    if info is None:
        return None
    _signal(info.pid, signal.SIGTERM)
    with anyio.move_on_after(timeout_s):
        await wait_for_exit(info.pid)
        return info
    # Its runs are resumable whatever the way it ends, so a daemon stuck in shutdown is killed.
    _signal(info.pid, signal.SIGKILL)
    return info


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        # Its own session: closing the terminal that started it does not stop it.
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=descriptor,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(descriptor)


async def wait_for_exit(pid: int) -> None:
    """Return once `pid` has ended (a pidfd turns readable then: no polling)."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if pid_alive(pid):
            await anyio.wait_readable(descriptor)
    finally:
        os.close(descriptor)


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)

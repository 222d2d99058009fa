"""The discovery file: how clients on this machine find the running daemon (URL, token, pid).

It lives in the state dir, readable by its owner only, because the token in it grants full
control of the daemon. A file whose pid no longer runs is stale (the daemon was killed) and is
treated as absent.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from parallelai.paths import ensure_private_dir, state_dir

FILE_NAME = "daemon.json"


class DaemonInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    url: str  # e.g. http://127.0.0.1:51234
    token: str
    pid: int
    store: str
    started_at: float


def discovery_path(directory: Path | None = None) -> Path:
    return (directory or state_dir()) / FILE_NAME


def write_discovery(info: DaemonInfo, path: Path | None = None) -> Path:
    """Write atomically with mode 0600: a reader never sees half a file or a readable token."""
    target = path or discovery_path()
    ensure_private_dir(target.parent)
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(info.model_dump_json(indent=2))
    os.replace(partial, target)
    return target


def read_discovery(path: Path | None = None) -> DaemonInfo | None:
    """The live daemon's details, or None when there is no file, a broken one, or a stale one."""
    target = path or discovery_path()
    try:
        info = DaemonInfo.model_validate_json(target.read_bytes())
    except (FileNotFoundError, ValidationError):
        return None
    return info if pid_alive(info.pid) else None


def remove_discovery(pid: int, path: Path | None = None) -> None:
    """Remove the file if it is still ours: a newer daemon may have replaced it meanwhile."""
    target = path or discovery_path()
    try:
        current = DaemonInfo.model_validate_json(target.read_bytes())
    except (FileNotFoundError, ValidationError):
        return
    if current.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed child its parent has not reaped yet still answers kill(0); it is dead all the same."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].startswith("Z")


def new_info(url: str, token: str, store: Path) -> DaemonInfo:
    return DaemonInfo(url=url, token=token, pid=os.getpid(), store=str(store), started_at=time.time())

"""What the CLI engines share: finding the binary, its version, a private home per attempt.

Each attempt gets its own home directory (config, sessions, logs): parallel agents sharing one
would race on the same files, and an attempt must not see what another left behind.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

import anyio

from parallelai.engines._cli.process import child_env, run_process
from parallelai.engines.base import EngineStatus
from parallelai.models import ErrorKind, TaskError, TaskResult
from parallelai.paths import ensure_private_dir, state_dir

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_VERSION = re.compile(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.]*[0-9A-Za-z])?")


def resolve_binary(binary: str) -> str | None:
    """`binary` as a path if it has a slash, else looked up on PATH."""
    if "/" in binary:
        return binary if Path(binary).is_file() else None
    return shutil.which(binary)


class VersionCache:
    """`BINARY --version`, asked once per binary: CLIs are slow to start and do not change under us."""

    def __init__(self) -> None:
        self._versions: dict[str, str | None] = {}

    async def version(
        self, binary: str, timeout_s: float = 15.0, *, cache_key: str | None = None
    ) -> str | None:
        key = cache_key or binary
        if key not in self._versions:
            found: str | None = None
            with anyio.move_on_after(timeout_s):
                try:
                    outcome = await run_process([binary, "--version"], env=child_env(), kill_grace_s=0.5)
                except OSError:
                    outcome = None
                if outcome is not None and outcome.returncode == 0:
                    match = _VERSION.search(outcome.stdout)
                    found = match.group(0) if match else outcome.stdout.strip()[:40] or None
            self._versions[key] = found
        return self._versions[key]


# `--version` answers for this process, by the binary's path and its file's identity: an upgrade in
# place (a new mtime or size) is asked again; a CLI is never asked per task.
_SOURCE_VERSIONS = VersionCache()


async def with_version(found: EngineStatus, binary: str, versions: VersionCache) -> EngineStatus:
    """`found` (an engine's `ready()`), with its CLI's version when the CLI is installed."""
    path = resolve_binary(binary)
    if path is None:
        return found
    return found.model_copy(update={"version": await versions.version(path)})


async def cli_source(binary: str, model: str | None, endpoint: str | None) -> dict[str, str]:
    """Where a CLI agent's answers come from, for cache keys: the model it is told to use, the
    endpoint it calls (set, or taken from the environment it passes on), the CLI and its version."""
    path = resolve_binary(binary)
    version = ""
    if path is not None:
        try:
            stat = os.stat(path)  # microseconds, once per run: not worth a thread
        except OSError:
            stat = None
        if stat is not None:
            key = f"{path}\0{stat.st_mtime_ns}\0{stat.st_size}"
            version = await _SOURCE_VERSIONS.version(path, cache_key=key) or ""
    return {
        "model": model or "",
        "endpoint": (endpoint or "").rstrip("/"),
        "cli": path or binary,
        "version": version,
    }


def create_attempt_home(engine: str, task_id: str, attempt: int, root: str | None) -> Path:
    """A fresh private directory for one attempt, under `root` or the state dir."""
    base = ensure_private_dir(Path(root) if root else state_dir() / "engines" / engine)
    home = base / f"{_UNSAFE.sub('_', task_id) or 'task'}-{attempt}-{uuid.uuid4().hex[:8]}"
    home.mkdir(mode=0o700)
    return home


def copy_files(source: Path, target: Path, names: Iterable[str]) -> None:
    """Copy the user's login and settings files that exist, readable by the owner only."""
    for name in names:
        origin = source / name
        if origin.is_file():
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copyfile(origin, destination)
            destination.chmod(0o600)


def remove_home(home: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)


def last_line(text: str, limit: int = 500) -> str:
    """The last non-empty line of a CLI's stderr: usually the reason it gave up."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:limit] if lines else "no output on stderr"


def failed(kind: ErrorKind, message: str) -> TaskResult:
    return TaskResult(error=TaskError(kind=kind, message=message))


def not_found(name: str, binary: str, install_hint: str) -> TaskResult:
    """The result of an attempt whose CLI is not installed (or not where `binary` says)."""
    return failed(ErrorKind.BAD_REQUEST, f"{name}: {binary!r} was not found; {install_hint}")


def not_installed(name: str, binary: str, install_hint: str) -> EngineStatus:
    """The status of an engine whose CLI is not installed (or not where `binary` says)."""
    return EngineStatus(name=name, available=False, detail=f"{binary!r} not found: {install_hint}")

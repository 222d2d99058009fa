"""Errors of the daemon and its clients: a branch of the one ParallelAIError tree.

ParallelAIError
└── DaemonError            the daemon cannot start, be reached, or refused a request
    └── StateDirBusyError  another daemon holds this state dir (it is starting, or running)
        └── DaemonRunningError  … and it is up, at a known URL
"""

from __future__ import annotations

from pathlib import Path

from parallelai.errors import ParallelAIError


class DaemonError(ParallelAIError):
    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status, when the daemon answered
        self.code = code  # the error body's code, when the daemon answered


class StateDirBusyError(DaemonError):
    def __init__(self, directory: Path, pid: int | None, message: str | None = None) -> None:
        holder = f"another daemon (pid {pid})" if pid is not None else "another daemon"
        super().__init__(
            message
            or f"{holder} holds the state dir {directory} and is still starting; it will be reachable "
            "once it is up (`parallelai status` shows it)"
        )
        self.directory = directory
        self.pid = pid  # None when the holder has not written its pid yet


class DaemonRunningError(StateDirBusyError):
    def __init__(self, url: str, pid: int, directory: Path) -> None:
        super().__init__(
            directory,
            pid,
            f"a daemon is already running at {url} (pid {pid}); `parallelai stop` stops it",
        )
        self.url = url

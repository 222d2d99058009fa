"""Errors of the daemon and its clients: a branch of the one ParallelAIError tree.

ParallelAIError
└── DaemonError            the daemon cannot start, be reached, or refused a request
    └── DaemonRunningError another daemon already owns this state dir
"""

from __future__ import annotations

from parallelai.errors import ParallelAIError


class DaemonError(ParallelAIError):
    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status, when the daemon answered
        self.code = code  # the error body's code, when the daemon answered


class DaemonRunningError(DaemonError):
    def __init__(self, url: str, pid: int) -> None:
        super().__init__(f"a daemon is already running at {url} (pid {pid}); `parallelai stop` stops it")
        self.url = url
        self.pid = pid

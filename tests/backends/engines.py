"""Engines for the Ray tests, made on the nodes from this module (the runners import it by name)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from parallelai.engines.base import Emit, EngineRequest, EngineStatus, RateLimitSignal, TextDelta
from parallelai.models import ErrorKind, TaskError, TaskResult
from parallelai.ratelimits import account_for
from parallelai.ratelimits.account import Account

GATED_ACCOUNT = account_for("gated-test", "http://gated.invalid", None)


def node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


class GatedEngine:
    """An agent on a provider account (`rate_account`, as a CLI agent's): it notes on which node and
    when each attempt started in `log` (a shared file); the task prompted `limit` is refused once
    with a rate limit asking to wait `pause_s`; the task prompted `hold` says `started`, then waits
    until it is cancelled, and notes that it stopped."""

    name = "gated"
    edits_files = False

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._log = Path(settings["log"])
        self._pause_s = float(settings.get("pause_s", 1.5))
        self._work_s = float(settings.get("work_s", 0.1))

    def rate_account(self, request: EngineRequest) -> Account:
        return GATED_ACCOUNT

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        with self._log.open("a") as log:
            log.write(f"{time.time()} start {node_id()} {request.task_id}\n")
            if request.prompt == "limit" and request.attempt == 1:
                log.write(f"{time.time()} limit {node_id()} {request.task_id}\n")
                emit(RateLimitSignal(self._pause_s))
                error = TaskError(kind=ErrorKind.RATE_LIMITED, message="429", retry_after=self._pause_s)
                return TaskResult(error=error)
        if request.prompt == "hold":
            emit(TextDelta("started"))
            try:
                await anyio.sleep_forever()
            finally:
                with self._log.open("a") as log:
                    log.write(f"{time.time()} stopped {node_id()} {request.task_id}\n")
        await anyio.sleep(self._work_s)
        emit(TextDelta(request.prompt))
        return TaskResult(text=request.prompt)

    async def status(self) -> EngineStatus:
        return EngineStatus(name=self.name, available=True)

    async def aclose(self) -> None:
        return None

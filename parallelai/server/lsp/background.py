"""`Background`: the task group the server's own work (run followers, the first connect) runs in.

pygls runs each request handler as a separate asyncio task that ends with its request; work
that outlives a request is spawned here instead, into the one task group `serve()` owns, so it
is cancelled when the server stops. A failure is logged and stays in its task: it never takes
the task group — and with it every other follower — down.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from anyio.abc import TaskGroup

log = logging.getLogger("parallelai.lsp")

Work = Callable[[], Awaitable[None]]


class Background:
    def __init__(self) -> None:
        self._group: TaskGroup | None = None

    def attach(self, group: TaskGroup) -> None:
        self._group = group

    def detach(self) -> None:
        self._group = None

    def spawn(self, work: Work, what: str) -> None:
        if self._group is None:
            raise RuntimeError("the language server is not serving; background work cannot start")
        self._group.start_soon(_guarded, work, what, name=what)


async def _guarded(work: Work, what: str) -> None:
    try:
        await work()
    except Exception:
        log.exception("%s failed", what)

"""`Monitors`: the metrics and notifications that follow one service's event bus while it runs.

Whoever runs the service (the daemon) starts them next to it, served over HTTP or not:

    async with Monitors.start(service, load_notify_config(), public_url=url) as monitors:
        app = create_app(service, token, monitors)  # the app only exposes them (`/metrics`)

`monitors.scrape_token` is the credential that opens `/metrics` besides the API token; it is kept
in the state dir, so a Prometheus config outlives daemon restarts (monitor/scrape_token.py).

Each follows the bus in its own task, so neither can hold up a run or the other, and a bug in
one is logged instead of taking the daemon down. Leaving the block stops them; notices still
waiting for delivery are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from parallelai.errors import sole_exception
from parallelai.monitor.metrics import RunMetrics
from parallelai.monitor.notify import Notifier
from parallelai.monitor.notify_config import NotifyConfig
from parallelai.monitor.scrape_token import load_scrape_token
from parallelai.orchestration.service import OrchestrationService

log = logging.getLogger("parallelai.monitor")

_Follower = Callable[[OrchestrationService, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Monitors:
    metrics: RunMetrics
    notifier: Notifier | None  # None when the `[notify]` table names no webhook
    scrape_token: str  # opens `/metrics` only

    @classmethod
    @asynccontextmanager
    async def start(
        cls,
        service: OrchestrationService,
        notify: NotifyConfig | None = None,
        *,
        public_url: str | None = None,
        scrape_token: str | None = None,
    ) -> AsyncIterator[Monitors]:
        """Count and notify what `service` does from now until the block ends.

        `notify` is the config file's `[notify]` table (none: no notifications); `public_url` is
        the daemon's own URL, for dashboard links when the table names no `dashboard_url`;
        `scrape_token` defaults to the one kept in the state dir (drawn there the first time).
        """
        notify = notify or NotifyConfig()
        monitors = cls(
            RunMetrics(service.registry.names()),
            Notifier(notify, public_url) if notify.enabled else None,
            scrape_token or load_scrape_token(),
        )
        # From now on: the daemon starts them before it resumes runs, so they see those start.
        after = service.bus.last_seq
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(_follow, "metrics", monitors.metrics.follow, service, after)
                if monitors.notifier is not None:
                    group.start_soon(_follow, "notifications", monitors.notifier.follow, service, after)
                try:
                    yield monitors
                finally:
                    group.cancel_scope.cancel()
        except BaseExceptionGroup as group_error:
            # What the block raised, unwrapped, so the daemon's `except InputError` still sees it.
            raise sole_exception(group_error) from None


async def _follow(name: str, follower: _Follower, service: OrchestrationService, after: int) -> None:
    try:
        await follower(service, after)
    except Exception:  # never worth the daemon: log the bug, keep serving
        log.exception("%s stopped following the event bus", name)

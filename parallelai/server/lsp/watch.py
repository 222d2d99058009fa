"""Following runs in the background: each run's events forwarded as `parallelai/runEvent`, and its progress.

One follower per run reads the daemon's event stream of that run from its start (a retry's, from
the retry on). It forwards events while the run is watched, drives the run's work-done progress
if it has one, and when the run finishes hands it to `finished` (which publishes its findings). A
follower with nothing left to do — unwatched and without progress — stops.

A run that was retried or resumed after it ended has more than one `run.finished`: the follower
ends at the one that ends the run as it stands, never at an earlier one in its history.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio

from parallelai.client.daemon_client import DaemonClient
from parallelai.events import RunFinished
from parallelai.server.lsp.background import Background
from parallelai.server.lsp.link import DaemonLink
from parallelai.server.lsp.progress import RunProgress
from parallelai.wire import RunOut

log = logging.getLogger("parallelai.lsp")

Notify = Callable[[dict[str, Any]], None]
Finished = Callable[[str], Awaitable[None]]


@dataclass(eq=False)
class _Follower:
    """Mutable on purpose: `watchRun` and `unwatchRun` change what a running follower does."""

    run_id: str
    forward: bool
    progress: RunProgress | None
    after: int | None = None  # follow from the event after this seq (None: from the run's first)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)


class RunFollowers:
    def __init__(self, link: DaemonLink, background: Background, notify: Notify, finished: Finished) -> None:
        self._link = link
        self._background = background
        self._notify = notify
        self._finished = finished
        self._followers: dict[str, _Follower] = {}
        self._all_runs = anyio.CancelScope()
        self._all_runs_following = anyio.Event()

    def follow(
        self, run_id: str, *, forward: bool, progress: RunProgress | None = None, after: int | None = None
    ) -> None:
        """Start following `run_id` from its first event (or the one after seq `after`); a run
        already followed is not followed twice."""
        known = self._followers.get(run_id)
        if known is not None:
            if not forward or known.forward:
                known.progress = known.progress or progress
                return
            # Watching a run followed only for its progress: the client wants its events from the
            # start, which that follower has passed, so a new one replays them (progress carried over).
            progress, known.progress = known.progress or progress, None
            known.scope.cancel()
        follower = _Follower(run_id, forward, progress, after)
        self._followers[run_id] = follower
        self._background.spawn(lambda: self._follow(follower), f"following run {run_id}")

    def unwatch(self, run_id: str) -> None:
        follower = self._followers.get(run_id)
        if follower is None:
            return
        follower.forward = False
        if follower.progress is None:
            follower.scope.cancel()

    def stop_all(self) -> None:
        for follower in list(self._followers.values()):
            follower.scope.cancel()
        self._all_runs.cancel()

    def follow_all_runs(self) -> None:
        """Publish the findings of every run that finishes from now on, whoever started it.

        For clients that cannot watch runs themselves (Claude Code's `lspServers`, Helix): a
        review started from the terminal or an MCP tool still lands on the files it concerns.
        """
        self._background.spawn(self._finish_all, "following every run")

    async def all_runs_covered(self) -> None:
        """Return once every run created from now on is sure to be followed (with `follow_all_runs`)."""
        await self._all_runs_following.wait()

    async def _finish_all(self) -> None:
        with self._all_runs:
            shared = await self._link.client()
            # From now on: older runs keep the findings they had. Any event after this seq is
            # replayed when the stream opens, so from here on no run can be missed.
            after = (await shared.health()).last_seq
            self._all_runs_following.set()
            async with DaemonClient(shared.info) as client, aclosing(client.events(after=after)) as events:
                async for event in events:
                    if isinstance(event, RunFinished):
                        await self._finished(event.run_id)

    async def _follow(self, follower: _Follower) -> None:
        with follower.scope:
            try:
                await self._forward(follower)
            finally:
                if self._followers.get(follower.run_id) is follower:
                    del self._followers[follower.run_id]
                if follower.progress is not None:
                    follower.progress.end("stopped following the run")

    async def _forward(self, follower: _Follower) -> None:
        if follower.progress is not None:
            await follower.progress.open()
        shared = await self._link.client()
        # Its own connection: the stream's reconnects (a restarted daemon) never touch the
        # connection requests use, and closing it ends the stream at once.
        async with DaemonClient(shared.info) as client:
            # In this order: a run that ends (or starts again) in between is still told apart right.
            history_ends = (await client.health()).last_seq
            now = await client.run(follower.run_id)
            async with aclosing(client.events(follower.run_id, after=follower.after)) as events:
                async for event in events:
                    if follower.forward:
                        self._notify(event.model_dump(mode="json"))
                    if follower.progress is not None:
                        follower.progress.update(event)
                    if isinstance(event, RunFinished) and _ends_the_run(event, now, history_ends):
                        if follower.forward:
                            await self._finished(follower.run_id)
                        return


def _ends_the_run(event: RunFinished, now: RunOut, history_ends: int) -> bool:
    """Whether `event` is the run's end as it stands: any `run.finished` after the history read
    when following began, or, in that history, one that ended the run as it is now (a run
    retried or resumed since has an earlier `run.finished` that is not its end)."""
    if event.seq > history_ends:
        return True
    as_now = {state: count for state, count in now.counts.items() if count}
    as_then = {state: count for state, count in event.counts.items() if count}
    return not now.active and event.state is now.state and as_then == as_now

"""`parallelai watch [RUN]`: a live full-screen view of a run over the daemon's event stream.

Four tasks share one task group: the event follower (replays the run from its start, then goes
on live, reconnecting through daemon restarts), a poller for run totals and the runs list, the
key reader (the terminal in cbreak mode; `q` quits, `c` cancels the run, `r` retries the failed,
cancelled and skipped tasks of a run that has finished, then follows it again) and the painter, which
redraws a few times a second however many events arrive. Without RUN it follows the newest
running run, or waits for the next one to start.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import termios
import time
import tty
from collections.abc import Iterator
from contextlib import aclosing
from typing import Any

import anyio
from anyio.abc import TaskGroup
from rich.console import Console
from rich.live import Live

from parallelai.cli.watch_view import WatchModel, render
from parallelai.client.daemon_client import DaemonClient
from parallelai.client.errors import DaemonError
from parallelai.errors import ParallelAIError, sole_exception
from parallelai.events import RunCreated
from parallelai.models import RunState
from parallelai.wording import plural

REFRESH_S = 0.25
POLL_S = 1.0
UNREACHABLE = "daemon unreachable"


def add_watch_command(subparsers: Any) -> None:
    """Register `watch` on `parser.add_subparsers()` of the main parser."""
    parser = subparsers.add_parser(
        "watch",
        help="live full-screen view of a run in the daemon (q quits, c cancels the run, r retries its failed tasks)",
    )
    parser.add_argument(
        "run", nargs="?", metavar="RUN", help="the run to watch (default: the newest running)"
    )
    parser.set_defaults(command=watch_command)


async def watch_command(args: argparse.Namespace) -> int:
    async with await DaemonClient.connect() as client:
        await Watch(client, Console()).run(args.run)
    return 0


class Watch:
    def __init__(self, client: DaemonClient, console: Console) -> None:
        self._client = client
        self._console = console
        self.model = WatchModel()

    async def run(self, run_id: str | None) -> None:
        after = 0
        if run_id is not None:
            await self._client.run(run_id)  # an unknown run is an error now, not a blank screen
        else:
            # Note the newest event first: a run created while we look is then still seen starting.
            after = (await self._client.health()).last_seq
            running = await self._client.list_runs(RunState.RUNNING, limit=1)
            run_id = running[0].id if running else None
        with (
            _cbreak(sys.stdin) as keys,
            Live(console=self._console, screen=True, auto_refresh=False, redirect_stderr=False) as live,
        ):
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(self._follow, run_id, after)
                    group.start_soon(self._poll)
                    group.start_soon(self._paint, live)
                    if keys is not None:
                        group.start_soon(self._read_keys, keys, group)
            except BaseExceptionGroup as errors:
                raise sole_exception(errors) from None

    async def _follow(self, run_id: str | None, after: int) -> None:
        if run_id is None:
            run_id = await self._next_run(after)
        self.model.focus(run_id)
        self.model.add_tasks([task.id for task in await self._client.tasks(run_id)])
        async with aclosing(self._client.events(run_id)) as events:
            async for event in events:
                self.model.apply(event)

    async def _next_run(self, after: int) -> str:
        async with aclosing(self._client.events(after=after)) as events:
            async for event in events:
                if isinstance(event, RunCreated):
                    return event.run_id
        raise ParallelAIError("the daemon's event stream ended")

    async def _poll(self) -> None:
        while True:
            try:
                self.model.runs = await self._client.list_runs(limit=10)
                if self.model.run_id is not None:
                    self.model.run = await self._client.run(self.model.run_id)
                if self.model.note.startswith(UNREACHABLE):
                    self.model.note = ""
            except DaemonError as error:
                # The event follower rediscovers a restarted daemon; until then say so and keep trying.
                self.model.note = f"{UNREACHABLE}: {error}"
            await anyio.sleep(POLL_S)

    async def _paint(self, live: Live) -> None:
        while True:
            live.update(render(self.model, time.time(), self._console.size.height), refresh=True)
            await anyio.sleep(REFRESH_S)

    async def _read_keys(self, descriptor: int, group: TaskGroup) -> None:
        while True:
            await anyio.wait_readable(descriptor)
            for key in os.read(descriptor, 64).decode(errors="replace"):
                if key in "qQ":
                    group.cancel_scope.cancel()
                    return
                if key in "cC" and self.model.run_id is not None:
                    group.start_soon(self._cancel, self.model.run_id)
                if key in "rR" and self.model.run_id is not None:
                    group.start_soon(self._retry, self.model.run_id)

    async def _cancel(self, run_id: str) -> None:
        self.model.note = f"cancelling {run_id}…"
        try:
            run = await self._client.cancel(run_id)
        except ParallelAIError as error:
            self.model.note = f"cancel failed: {error}"
            return
        self.model.run = run
        self.model.note = f"{run_id} {run.state.value}"

    async def _retry(self, run_id: str) -> None:
        run = self.model.run
        if run is not None and run.active:
            self.model.note = f"{run_id} is still running; r retries its failed tasks once it has finished"
            return
        self.model.note = f"retrying the failed tasks of {run_id}…"
        try:
            retried = await self._client.retry(run_id)
        except ParallelAIError as error:
            self.model.note = f"retry failed: {error}"
            return
        # The event follower goes on: the run's new events arrive on the same stream.
        self.model.run = retried.run
        if retried.retried == 0:
            self.model.note = f"{run_id}: nothing to retry (no failed, cancelled or skipped task)"
        else:
            self.model.note = f"{run_id}: retrying {plural(retried.retried, 'task')}"


@contextlib.contextmanager
def _cbreak(stream: Any) -> Iterator[int | None]:
    """The terminal's descriptor in cbreak mode (keys arrive one by one, unechoed); None if not a tty."""
    try:
        descriptor = stream.fileno()
    except (AttributeError, ValueError, OSError):
        yield None
        return
    if not os.isatty(descriptor):
        yield None
        return
    saved = termios.tcgetattr(descriptor)
    tty.setcbreak(descriptor)
    try:
        yield descriptor
    finally:
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)

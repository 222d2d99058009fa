"""`parallelai watch [RUN]`: a live full-screen view of a run over the daemon's event stream.

Four tasks share one task group: the event follower (replays the run from its start, then goes
on live, reconnecting through daemon restarts), a poller for run totals and the runs list (and
the opened task), the key reader (the terminal in cbreak mode; `q` quits, `c` cancels the run,
`r` retries the failed, cancelled and skipped tasks of a run that has finished, then follows it
again; ↑/↓ select a listed task, Enter opens it — its attempts, error and output — where `c`
and `r` act on that task, and Esc goes back) and the painter, which redraws a few times a second
however many events arrive. Without RUN it follows the newest running run, or waits for the next
one to start.
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
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from rich.console import Console
from rich.live import Live

from parallelai.cli.watch_view import WatchModel, render
from parallelai.client.errors import DaemonError
from parallelai.errors import ParallelAIError, sole_exception
from parallelai.events import RunCreated
from parallelai.models import RunState
from parallelai.wording import plural

REFRESH_S = 0.25
POLL_S = 1.0
UNREACHABLE = "daemon unreachable"
# What the terminal sends for the keys that are more than one character (xterm, VT100 modes).
_SEQUENCES = {"\x1b[A": "up", "\x1bOA": "up", "\x1b[B": "down", "\x1bOB": "down"}
_NAMED = {"\r": "enter", "\n": "enter", "\x1b": "escape"}

if TYPE_CHECKING:
    from parallelai.client.daemon_client import DaemonClient


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
    from parallelai.client.daemon_client import DaemonClient  # httpx only when it is used

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
                with contextlib.suppress(DaemonError):  # a daemon from before rate gates has none to show
                    self.model.gates = await self._client.rate_gates()
                if self.model.run_id is not None:
                    self.model.run = await self._client.run(self.model.run_id)
                    if self.model.opened is not None:
                        await self._fetch_opened(self.model.run_id, self.model.opened)
                if self.model.note.startswith(UNREACHABLE):
                    self.model.note = ""
            except DaemonError as error:
                # A restarted daemon has a new port and token (a 401, or nobody at the old port):
                # its discovery file says where; ask there at once. Else say so and keep trying.
                if await self._client.rediscover():
                    continue
                self.model.note = f"{UNREACHABLE}: {error}"
            await anyio.sleep(POLL_S)

    async def _paint(self, live: Live) -> None:
        while True:
            live.update(render(self.model, time.time(), self._console.size.height), refresh=True)
            await anyio.sleep(REFRESH_S)

    async def _read_keys(self, descriptor: int, group: TaskGroup) -> None:
        while True:
            await anyio.wait_readable(descriptor)
            for key in keys_in(os.read(descriptor, 64).decode(errors="replace")):
                if key in ("q", "Q"):
                    group.cancel_scope.cancel()
                    return
                self._on_key(key, group)

    def _on_key(self, key: str, group: TaskGroup) -> None:
        model, run_id = self.model, self.model.run_id
        if run_id is None:
            return
        opened = model.opened
        if key in ("up", "down") and opened is None:
            model.move(-1 if key == "up" else 1)
        elif key == "enter" and opened is None:
            task_id = model.open()
            if task_id is not None:
                group.start_soon(self._fetch_opened, run_id, task_id)
        elif key in ("escape", "enter"):
            model.close()
        elif key in ("c", "C") and opened is not None:
            group.start_soon(self._cancel_task, run_id, opened)
        elif key in ("c", "C"):
            group.start_soon(self._cancel, run_id)
        elif key in ("r", "R"):
            group.start_soon(self._retry, run_id, opened)

    async def _fetch_opened(self, run_id: str, task_id: str) -> None:
        try:
            detail = await self._client.task(run_id, task_id)
        except ParallelAIError as error:
            self.model.note = f"cannot show {task_id}: {error}"
            return
        if self.model.opened == task_id:  # not closed (or another opened) meanwhile
            self.model.detail = detail

    async def _cancel_task(self, run_id: str, task_id: str) -> None:
        self.model.note = f"cancelling {task_id}…"
        try:
            result = await self._client.cancel_task(run_id, task_id)
        except ParallelAIError as error:
            self.model.note = f"cancel failed: {error}"
            return
        self.model.note = f"{task_id} cancelled" if result.cancelled else f"{task_id} was not running"
        await self._fetch_opened(run_id, task_id)

    async def _cancel(self, run_id: str) -> None:
        self.model.note = f"cancelling {run_id}…"
        try:
            run = await self._client.cancel(run_id)
        except ParallelAIError as error:
            self.model.note = f"cancel failed: {error}"
            return
        self.model.run = run
        self.model.note = f"{run_id} {run.state.value}"

    async def _retry(self, run_id: str, task_id: str | None = None) -> None:
        """Run the run's failed, cancelled and skipped tasks again, or only `task_id` (and what
        depends on it)."""
        run = self.model.run
        what = task_id or "its failed tasks"
        if run is not None and run.active:
            self.model.note = f"{run_id} is still running; r retries {what} once it has finished"
            return
        self.model.note = f"retrying {task_id or f'the failed tasks of {run_id}'}…"
        try:
            retried = await self._client.retry(run_id, [task_id] if task_id else [])
        except ParallelAIError as error:
            self.model.note = f"retry failed: {error}"
            return
        # The event follower goes on: the run's new events arrive on the same stream.
        self.model.run = retried.run
        if retried.retried == 0:
            self.model.note = f"{run_id}: nothing to retry (no failed, cancelled or skipped task)"
        else:
            self.model.note = f"{run_id}: retrying {plural(retried.retried, 'task')}"
        if task_id is not None:
            await self._fetch_opened(run_id, task_id)


def keys_in(text: str) -> list[str]:
    """The keys in what the terminal sent: `up`, `down`, `enter`, `escape`, or the character."""
    keys: list[str] = []
    index = 0
    while index < len(text):
        sequence = next((seq for seq in _SEQUENCES if text.startswith(seq, index)), None)
        if sequence is not None:
            keys.append(_SEQUENCES[sequence])
            index += len(sequence)
            continue
        if text.startswith("\x1b[", index) or text.startswith("\x1bO", index):
            # Another key's sequence (→, F1, Home…): skip it whole, up to its final letter or ~.
            end = index + 2
            while end < len(text) and not (text[end].isalpha() or text[end] == "~"):
                end += 1
            index = end + 1
            continue
        keys.append(_NAMED.get(text[index], text[index]))
        index += 1
    return keys


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

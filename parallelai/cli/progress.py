"""Live progress for a run: a rich display in a terminal, plain lines otherwise.

Only `running` tasks count as running; tasks waiting out a retry backoff are `retrying` (shown
when there are any), and a resumed or retried run counts the tasks it kept as done.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parallelai.events import (
    Event,
    RunCreated,
    RunFinished,
    RunStarted,
    TaskStateChanged,
    TaskUsage,
)
from parallelai.models import TaskState, Usage

# Always in the live counts row; these others only while some task is in them.
_SHOWN = (TaskState.RUNNING, TaskState.SUCCEEDED, TaskState.FAILED, TaskState.SKIPPED)
_SHOWN_IF_ANY = (TaskState.RETRYING, TaskState.INTERRUPTED)


class RunTally:
    """Counts by state, usage and recent failures, folded from a run's events."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.states: dict[str, TaskState] = {}
        self.usage_by_task: dict[str, Usage] = {}
        self.failures: deque[str] = deque(maxlen=5)
        self.started = time.monotonic()
        self.kept = 0  # tasks a resumed or retried run had finished unseen here (they get no events)

    def apply(self, event: Event) -> TaskStateChanged | None:
        match event:
            case RunCreated(task_count=count):
                self.total = count
            case RunStarted(resumed=True, requeued=requeued):
                # What the run keeps is done; the part of it seen finishing here is in `states`.
                self.kept = max(0, self.total - requeued - self._seen_finished())
            case TaskStateChanged(task_id=task_id, state=state, reason=reason):
                self.states[task_id] = state
                if state is TaskState.FAILED:
                    self.failures.append(f"{task_id}: {reason}")
                return event
            case TaskUsage(task_id=task_id, usage=usage):
                self.usage_by_task[task_id] = usage
            case _:
                pass
        return None

    def count(self, state: TaskState) -> int:
        return sum(1 for value in self.states.values() if value is state)

    @property
    def finished(self) -> int:
        return self.kept + self._seen_finished()

    def _seen_finished(self) -> int:
        return sum(1 for value in self.states.values() if value.is_final)

    @property
    def cost(self) -> float:
        return sum(usage.cost_usd for usage in self.usage_by_task.values())

    @property
    def throughput(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.finished / elapsed if elapsed > 0 else 0.0


class ProgressView:
    """Feed it events; it draws. Use as a context manager around the run."""

    def __init__(
        self, run_id: str, total: int, stream: TextIO | None = None, live: bool | None = None
    ) -> None:
        self.run_id = run_id
        self.tally = RunTally(total)
        self._stream = stream or sys.stderr
        self._live_mode = self._stream.isatty() if live is None else live
        self._console = Console(file=self._stream)
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self._console,
        )
        self._bar_task = self._bar.add_task(run_id, total=total)
        self._live: Live | None = None
        self._last_line = 0.0

    def __enter__(self) -> ProgressView:
        if self._live_mode:
            self._live = Live(self._render(), console=self._console, refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)

    def update(self, event: Event) -> None:
        change = self.tally.apply(event)
        if self._live is not None:
            self._bar.update(self._bar_task, completed=self.tally.finished, total=self.tally.total)
            self._live.update(self._render())
        elif change is not None and (change.state.is_final or change.state is TaskState.RETRYING):
            self._plain_line(change)
        elif isinstance(event, RunStarted) and event.resumed:
            print(f"{self.run_id}: {event.requeued} tasks queued again", file=self._stream)
        elif isinstance(event, RunFinished):
            self._stream.flush()

    def _plain_line(self, change: TaskStateChanged) -> None:
        # Big runs would drown a log in lines: past 200 tasks, report failures, retries and every 5%.
        tally = self.tally
        step = max(1, tally.total // 20)
        quiet = tally.total > 200 and change.state is TaskState.SUCCEEDED and tally.finished % step
        if quiet:
            return
        detail = f" ({change.reason})" if change.reason else ""
        print(f"[{tally.finished}/{tally.total}] {change.task_id} {change.state}{detail}", file=self._stream)

    def _render(self) -> Group:
        tally = self.tally
        table = Table.grid(padding=(0, 2))
        shown = [*_SHOWN, *(state for state in _SHOWN_IF_ANY if tally.count(state))]
        table.add_row(*(f"{state}: {tally.count(state)}" for state in shown))
        table.add_row(f"{tally.throughput:.1f} tasks/s", f"cost ${tally.cost:.4f}", "", "")
        parts: list[Table | Progress] = [self._bar, table]
        if tally.failures:
            failures = Table.grid()
            for line in tally.failures:
                failures.add_row(f"[red]✗ {line}[/red]")
            parts.append(failures)
        return Group(*parts)

"""Live progress for a run: a rich display in a terminal, plain lines otherwise.

The run id comes first, on a line of its own, so it can be copied while the run goes on. The live
display then shows the counts, the tasks running now (with how long each has run) and an ETA from
the throughput observed (progress_eta.py); plain lines carry the ETA too.

Only `running` tasks count as running; tasks waiting out a retry backoff are `retrying` (shown
when there are any), and a resumed or retried run counts the tasks it kept as done.

rich redraws the live display from its own thread, calling `_render` there: everything `_render`
reads is a counter or a copy taken in one C-level call (`list(...)`), never a Python loop over a
collection the event loop may be changing.
"""

from __future__ import annotations

import sys
import time
from collections import Counter, deque
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parallelai.cli.progress_eta import Eta, duration, eta_text
from parallelai.events import (
    Event,
    RunCreated,
    RunFinished,
    RunStarted,
    TaskStateChanged,
    TaskUsage,
)
from parallelai.models import TaskState, Usage
from parallelai.wording import plural

# Always in the live counts row; these others only while some task is in them.
_SHOWN = (TaskState.RUNNING, TaskState.SUCCEEDED, TaskState.FAILED, TaskState.SKIPPED)
_SHOWN_IF_ANY = (TaskState.RETRYING, TaskState.INTERRUPTED)
ACTIVE_SHOWN = 8  # running tasks listed in the live display; the others are counted


class RunTally:
    """Counts by state, usage, running tasks and recent failures, folded from a run's events."""

    def __init__(self, total: int, now: float | None = None) -> None:
        self.total = total
        self.states: dict[str, TaskState] = {}
        self.usage_by_task: dict[str, Usage] = {}
        self.failures: deque[str] = deque(maxlen=5)
        self.running_since: dict[str, float] = {}  # task id → when its attempt started (epoch s)
        self.started = time.monotonic()
        self.eta = Eta(time.time() if now is None else now)
        self.kept = 0  # tasks a resumed or retried run had finished unseen here (they get no events)
        self._counts: Counter[TaskState] = Counter()
        self._seen_finished = 0
        self._cost = 0.0

    def apply(self, event: Event) -> TaskStateChanged | None:
        match event:
            case RunCreated(task_count=count):
                self.total = count
            case RunStarted(resumed=True, requeued=requeued):
                # What the run keeps is done; the part of it seen finishing here is in `states`.
                self.kept = max(0, self.total - requeued - self._seen_finished)
            case TaskStateChanged(task_id=task_id, state=state, reason=reason):
                self._change(event, self.states.get(task_id))
                if state is TaskState.FAILED:
                    self.failures.append(f"{task_id}: {reason}")
                return event
            case TaskUsage(task_id=task_id, usage=usage):
                before = self.usage_by_task.get(task_id)
                self._cost += usage.cost_usd - (before.cost_usd if before else 0.0)
                self.usage_by_task[task_id] = usage
            case _:
                pass
        return None

    def _change(self, event: TaskStateChanged, before: TaskState | None) -> None:
        state = event.state
        self.states[event.task_id] = state
        if before is not None:
            self._counts[before] -= 1
        self._counts[state] += 1
        was_final = before is not None and before.is_final
        if state.is_final and not was_final:
            self._seen_finished += 1
            self.eta.finished(event.at)
        elif was_final and not state.is_final:
            self._seen_finished -= 1  # a retried run's task runs again
        if state is TaskState.RUNNING:
            self.running_since[event.task_id] = event.at
        else:
            self.running_since.pop(event.task_id, None)

    def count(self, state: TaskState) -> int:
        return self._counts[state]

    @property
    def finished(self) -> int:
        return self.kept + self._seen_finished

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.finished)

    @property
    def cost(self) -> float:
        return self._cost

    @property
    def throughput(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.finished / elapsed if elapsed > 0 else 0.0

    def eta_text(self, now: float) -> str:
        return eta_text(self.eta, self.remaining, now)


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

    def __enter__(self) -> ProgressView:
        # Before anything else, and on a line of its own: the id to resume, watch or show it by.
        print(f"run {self.run_id}: {plural(self.tally.total, 'task')}", file=self._stream, flush=True)
        if self._live_mode:
            self._live = Live(
                console=self._console, get_renderable=self._render, refresh_per_second=8, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(None, None, None)

    def note(self, text: str) -> None:
        """A line of its own about the run's following (not a task), above the live view if any."""
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self._stream, flush=True)

    def update(self, event: Event) -> None:
        change = self.tally.apply(event)
        if self._live is not None:
            self._bar.update(self._bar_task, completed=self.tally.finished, total=self.tally.total)
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
        left = tally.eta.estimate(tally.remaining, change.at) if tally.remaining else None
        suffix = f" · ETA {duration(left)}" if left is not None else ""
        print(
            f"[{tally.finished}/{tally.total}] {change.task_id} {change.state}{detail}{suffix}",
            file=self._stream,
        )

    def _render(self) -> Group:
        tally, now = self.tally, time.time()
        table = Table.grid(padding=(0, 2))
        shown = [*_SHOWN, *(state for state in _SHOWN_IF_ANY if tally.count(state))]
        table.add_row(*(f"{state}: {tally.count(state)}" for state in shown))
        table.add_row(f"{tally.throughput:.1f} tasks/s", f"cost ${tally.cost:.4f}", tally.eta_text(now), "")
        parts: list[Table | Progress] = [self._bar, table]
        running = sorted(tally.running_since.items(), key=lambda item: item[1])  # copied in C first
        if running:
            active = Table.grid(padding=(0, 2))
            for task_id, since in running[:ACTIVE_SHOWN]:
                active.add_row(f"[dodger_blue1]▸ {task_id}[/dodger_blue1]", duration(now - since))
            if len(running) > ACTIVE_SHOWN:
                active.add_row(f"[grey62]… and {len(running) - ACTIVE_SHOWN} more running[/grey62]", "")
            parts.append(active)
        failures = list(tally.failures)
        if failures:
            shown_failures = Table.grid()
            for line in failures:
                shown_failures.add_row(f"[red]✗ {line}[/red]")
            parts.append(shown_failures)
        return Group(*parts)

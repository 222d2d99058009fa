"""What `parallelai watch` shows: a run's state folded from its events, and the screen drawn from it.

`WatchModel.apply(event)` is O(1) per event, so a replay of a run with thousands of tasks is
cheap; `render(model, now)` draws the whole screen and is called a few times a second at most.
Only `running` tasks are active: a task waiting out a retry backoff (`retrying`) holds no slot,
and is listed apart with when it runs again.

The tasks listed on screen (active, waiting to retry, recent failures) can be selected with the
arrow keys and opened: an opened task replaces those lists with its attempts, error and output
(`WatchModel.detail`, fetched by the command while it is open). `render` notes which tasks it
listed (`WatchModel.shown`), so the selection moves through what the user sees.

Under the counts, a line per provider account (the daemon's rate gates, polled) that holds tasks
back now: paused by a 429's retry-after, or with tasks waiting for its limits.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from parallelai.cli.progress_eta import Eta, eta_text
from parallelai.events import (
    BudgetReached,
    Event,
    RunFinished,
    RunStarted,
    TaskOutput,
    TaskRetrying,
    TaskStateChanged,
)
from parallelai.models import RunState, TaskState
from parallelai.wire import RateGateOut, RunOut, TaskDetail

STATE_STYLES = {
    TaskState.PENDING: "grey62",
    TaskState.READY: "medium_purple1",
    TaskState.RUNNING: "dodger_blue1",
    TaskState.RETRYING: "orange1",
    TaskState.INTERRUPTED: "magenta",
    TaskState.SUCCEEDED: "green3",
    TaskState.FAILED: "red1",
    TaskState.CANCELLED: "grey50",
    TaskState.SKIPPED: "gold1",
}
RUN_STYLES = {
    RunState.RUNNING: "bold dodger_blue1",
    RunState.SUCCEEDED: "bold green3",
    RunState.FAILED: "bold red1",
    RunState.CANCELLED: "bold grey50",
    RunState.INTERRUPTED: "bold magenta",
}
FAILURES_SHOWN = 6
RUNS_SHOWN = 6
RETRYING_SHOWN = 3
# Shown in the counts line even at zero; the others only when some task is in them.
ALWAYS_COUNTED = frozenset(
    {TaskState.PENDING, TaskState.READY, TaskState.RUNNING, *(state for state in TaskState if state.is_final)}
)
RETRYABLE = (TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED)
SELECTED = "reverse"
ERROR_LINES = 8  # of an opened task's error message


@dataclass(slots=True)
class _Task:
    state: TaskState = TaskState.PENDING
    since: float | None = None  # when its current attempt started running
    attempt: int = 0
    retry_at: float | None = None  # when a retrying task is ready again (epoch seconds)


@dataclass(slots=True)
class WatchModel:
    """The focused run (its tasks, from events) and the recent runs (polled)."""

    run_id: str | None = None
    run: RunOut | None = None
    runs: list[RunOut] = field(default_factory=list)
    tasks: dict[str, _Task] = field(default_factory=dict)
    failures: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=FAILURES_SHOWN))
    note: str = ""  # a status line: "cancelling…", errors from key actions
    eta: Eta | None = None  # from the run's first event on
    shown: list[str] = field(default_factory=list)  # the tasks listed in the last frame, in order
    selected: str | None = None
    opened: str | None = None  # the task shown in full
    detail: TaskDetail | None = None  # the opened task, as last fetched
    gates: list[RateGateOut] = field(default_factory=list)  # the daemon's provider accounts (polled)

    def focus(self, run_id: str) -> None:
        if run_id != self.run_id:
            self.run_id, self.run = run_id, None
            self.tasks.clear()
            self.failures.clear()
            self.eta, self.shown, self.selected = None, [], None
            self.close()

    def add_tasks(self, task_ids: list[str]) -> None:
        for task_id in task_ids:
            self.tasks.setdefault(task_id, _Task())

    def apply(self, event: Event) -> None:
        if event.run_id != self.run_id:
            return
        if self.eta is None or isinstance(event, RunStarted):
            # A resumed or retried run is measured from when it runs again, not across the pause.
            self.eta = Eta(event.at)
        match event:
            case TaskStateChanged():
                task = self.tasks.setdefault(event.task_id, _Task())
                if event.state.is_final and not task.state.is_final:
                    self.eta.finished(event.at)
                task.state, task.attempt = event.state, event.attempt
                task.since = event.at if event.state is TaskState.RUNNING else None
                task.retry_at = event.retry_at if event.state is TaskState.RETRYING else None
                if event.state is TaskState.FAILED or event.state is TaskState.SUCCEEDED:
                    self._forget_failures(event.task_id)  # retried: only its latest outcome is listed
                if event.state is TaskState.FAILED:
                    self.failures.append((event.task_id, event.reason or str(event.error_kind or "failed")))
            case TaskRetrying():
                self.failures.append((event.task_id, f"attempt {event.attempt}: {event.message} (retrying)"))
            case BudgetReached():
                self.note = f"{event.limit} budget reached: {event.spent:g} of {event.maximum:g}"
            case RunStarted() if self.run is not None:
                # Resumed or retried: it runs again (the poll fills in who executes it).
                self.run = self.run.model_copy(
                    update={"state": RunState.RUNNING, "finished_at": None, "active": True, "note": None}
                )
            case RunFinished() if self.run is not None:
                update = {
                    "state": event.state,
                    "usage": event.usage,
                    "finished_at": event.at,
                    "active": False,
                    "executed_by": None,
                }
                self.run = self.run.model_copy(update=update)
            case _:
                pass

    def _forget_failures(self, task_id: str) -> None:
        if any(listed == task_id for listed, _ in self.failures):
            kept = [entry for entry in self.failures if entry[0] != task_id]
            self.failures.clear()
            self.failures.extend(kept)

    def counts(self) -> Counter[TaskState]:
        return Counter(task.state for task in self.tasks.values())

    def move(self, step: int) -> None:
        """Select the task `step` rows down (up, if negative) among those listed on screen."""
        if not self.shown:
            return
        if self.selected not in self.shown:
            self.selected = self.shown[0 if step > 0 else -1]
            return
        index = self.shown.index(self.selected) + step
        self.selected = self.shown[max(0, min(index, len(self.shown) - 1))]

    def open(self) -> str | None:
        """Show the selected task in full; its id, or None when none is selected."""
        if self.selected is not None:
            self.opened, self.detail = self.selected, None
        return self.opened

    def close(self) -> None:
        self.opened, self.detail = None, None

    def retryable(self) -> int:
        """Tasks `r` would run again: the failed, cancelled and skipped ones of a run that ended."""
        counts = self.counts()
        return sum(counts[state] for state in RETRYABLE)


def render(model: WatchModel, now: float, height: int = 40) -> RenderableType:
    if model.run_id is None:
        body: list[RenderableType] = [Text("waiting for a run to start…", style="italic grey62")]
    else:
        counts = model.counts()
        body = [_header(model, now), _counts(counts, len(model.tasks), _eta(model, counts, now))]
        held = _held_back(model, now)
        extra = held.plain.count("\n") + 1 if held is not None else 0  # lines the lists give up
        if held is not None:
            body.append(held)
        if model.opened is not None:
            body.append(_opened(model, now, max(5, height - 12 - RUNS_SHOWN - extra)))
        else:
            model.shown = []
            waiting = counts[TaskState.RETRYING]
            retry_rows = min(waiting, RETRYING_SHOWN) + (waiting > RETRYING_SHOWN)
            rows = max(
                3, height - 14 - extra - FAILURES_SHOWN - RUNS_SHOWN - (retry_rows + 2 if waiting else 0)
            )
            body.append(_active(model, now, rows))
            if waiting:
                body.append(_retrying(model, now))
            body.append(_failures(model))
    body.append(_runs(model))
    return Group(*body, _footer(model))


def _held_back(model: WatchModel, now: float) -> Text | None:
    """A line per provider account that holds tasks back now: paused by a 429, or with tasks waiting
    for its limits. Accounts going freely are not worth a line of the screen."""
    held = [gate for gate in model.gates if (gate.paused_until or 0) > now or gate.waiting]
    if not held:
        return None
    text = Text(no_wrap=True, overflow="ellipsis")
    for index, gate in enumerate(held):
        left = (gate.paused_until or 0) - now
        parts = [f"paused {left:.0f} s"] if left > 0 else []
        if gate.waiting:
            parts.append(f"{gate.waiting} waiting")
        parts.append(f"{gate.refused} refused (429)")
        if (limit := gate.limits.get("requests")) is not None:
            left_now = gate.remaining.get("requests", gate.available.get("requests", limit))
            parts.append(f"{left_now:.0f}/{limit:.0f} requests/min")
        text.append("\n" if index else "")
        text.append(
            "rate limited " if left > 0 else "rate gate ", style="bold orange1" if left > 0 else "bold"
        )
        host = urlsplit(gate.endpoint).netloc or gate.endpoint
        text.append(f"{gate.provider} {host}: {' · '.join(parts)}", style="orange1" if left > 0 else "")
    return text


def _footer(model: WatchModel) -> Text:
    footer = Text.assemble(("q", "bold"), " quit   ")
    if model.opened is not None:
        keys = (("esc", " back   "), ("c", " cancel this task   "), ("r", " retry this task   "))
        for key, what in keys:
            footer.append_text(Text.assemble((key, "bold"), what))
        footer.append(model.note, style="yellow")
        return footer
    footer.append_text(Text.assemble(("c", "bold"), " cancel the run   "))
    # Counted only once the run has ended: a frame of a live run does not walk its tasks twice.
    if model.run is not None and model.run.state.is_final and (retryable := model.retryable()):
        footer.append_text(
            Text.assemble(("r", "bold"), f" retry its {retryable} failed, cancelled or skipped tasks   ")
        )
    if model.shown:
        footer.append_text(Text.assemble(("↑↓", "bold"), " select   ", ("enter", "bold"), " open   "))
    footer.append(model.note, style="yellow")
    return footer


def _eta(model: WatchModel, counts: Counter[TaskState], now: float) -> str:
    if model.eta is None or (model.run is not None and not model.run.active):
        return ""
    remaining = sum(count for state, count in counts.items() if not state.is_final)
    return eta_text(model.eta, remaining, now)


def _listed(model: WatchModel, task_id: str) -> str:
    """The row style for a listed task, noting it as selectable."""
    first = task_id not in model.shown
    if first:
        model.shown.append(task_id)
    return SELECTED if first and task_id == model.selected else ""


def _header(model: WatchModel, now: float) -> Text:
    run = model.run
    text = Text.assemble(("parallelai watch  ", "bold"), (model.run_id or "", "cyan"))
    if run is None:
        return text
    if run.name:
        text.append(f"  {run.name}")
    end = run.finished_at or (now if run.active else run.created_at + run.elapsed_s)
    tokens = run.usage.input_tokens + run.usage.output_tokens
    text.append("   ")
    text.append(run.state.value, style=RUN_STYLES.get(run.state, "bold"))
    text.append(f"   elapsed {_duration(max(0.0, end - run.created_at))}")
    text.append(f"   cost ${run.usage.cost_usd:.4f}   tokens {tokens:,}")
    if run.executed_by:
        text.append(f"   executed by {run.executed_by}", style="grey62")
    return text


def _counts(counts: Counter[TaskState], total: int, eta: str = "") -> Group:
    line = Text()
    for state in TaskState:
        if state in ALWAYS_COUNTED or counts[state]:
            line.append(f"{state.value} {counts[state]}", style=STATE_STYLES[state])
            line.append("   ")
    done = sum(counts[state] for state in TaskState if state.is_final)
    line.append(f"done {done}/{total}", style="bold")
    if eta:
        line.append(f"   {eta}", style="bold")
    bar = Table.grid()  # a grid row ends its line; a bare ProgressBar would run into the next panel
    bar.add_row(ProgressBar(total=max(total, 1), completed=done, width=60))
    return Group(line, bar)


def _active(model: WatchModel, now: float, rows: int) -> Panel:
    table = Table(box=None, padding=(0, 2), show_header=True, header_style="grey62")
    table.add_column("task")
    table.add_column("attempt", justify="right")
    table.add_column("elapsed", justify="right")
    active = sorted(
        ((task_id, task) for task_id, task in model.tasks.items() if task.state is TaskState.RUNNING),
        key=lambda item: item[1].since or now,
    )
    for task_id, task in active[:rows]:
        style = _listed(model, task_id)
        table.add_row(task_id, str(task.attempt), _duration(now - (task.since or now)), style=style)
    if len(active) > rows:
        table.add_row(f"… and {len(active) - rows} more", "", "", style="grey62")
    return Panel(table, title=f"active tasks ({len(active)})", title_align="left", border_style="grey42")


def _retrying(model: WatchModel, now: float) -> Panel:
    table = Table(box=None, padding=(0, 2), show_header=True, header_style="grey62")
    table.add_column("task")
    table.add_column("failed attempt", justify="right")
    table.add_column("runs again", justify="right")
    retrying = sorted(
        ((task_id, task) for task_id, task in model.tasks.items() if task.state is TaskState.RETRYING),
        key=lambda item: item[1].retry_at or now,
    )
    for task_id, task in retrying[:RETRYING_SHOWN]:
        due = "now" if task.retry_at is None else f"in {_duration(max(0.0, task.retry_at - now))}"
        style = _listed(model, task_id) or STATE_STYLES[TaskState.RETRYING]
        table.add_row(task_id, str(task.attempt), due, style=style)
    if len(retrying) > RETRYING_SHOWN:
        table.add_row(f"… and {len(retrying) - RETRYING_SHOWN} more", "", "", style="grey62")
    title = f"waiting to retry ({len(retrying)}, no slot held)"
    return Panel(table, title=title, title_align="left", border_style="grey42")


def _failures(model: WatchModel) -> Panel:
    table = Table(box=None, padding=(0, 2), show_header=False)
    table.add_column("task", style="red1", no_wrap=True)
    table.add_column("error", overflow="ellipsis", no_wrap=True)
    for task_id, message in model.failures:
        first_line = message.strip().splitlines()[0] if message.strip() else ""
        table.add_row(task_id, first_line, style=_listed(model, task_id))
    content: RenderableType = table if model.failures else Text("none", style="grey62")
    return Panel(content, title="recent failures", title_align="left", border_style="grey42")


def _opened(model: WatchModel, now: float, rows: int) -> Panel:
    """The opened task: its attempts, its error in full, and the end of its output."""
    task_id = model.opened or ""
    detail = model.detail
    if detail is None:
        return Panel(Text("loading…", style="italic grey62"), title=f"task {task_id}", title_align="left")
    parts: list[RenderableType] = []
    attempts = Table(box=None, padding=(0, 2), show_header=True, header_style="grey62")
    for name in ("attempt", "started", "took", "outcome", "error"):
        attempts.add_column(name, overflow="ellipsis", no_wrap=True)
    for attempt in detail.attempts[-4:]:
        end = attempt.finished_at or now
        error = f"{attempt.error.kind}: {attempt.error.message}".splitlines()[0] if attempt.error else ""
        attempts.add_row(
            f"#{attempt.number}",
            time.strftime("%H:%M:%S", time.localtime(attempt.started_at)),
            _duration(max(0.0, end - attempt.started_at)),
            Text(attempt.state.value, style=STATE_STYLES[attempt.state]),
            error,
        )
    parts.append(attempts)
    result = detail.result
    if result is not None and result.error is not None:
        lines = f"{result.error.kind}: {result.error.message}".splitlines()
        parts.append(Text("\n".join(lines[:ERROR_LINES]), style="red1"))
    elif detail.reason and detail.state is not TaskState.SUCCEEDED:
        parts.append(Text(detail.reason, style=STATE_STYLES[detail.state]))
    streamed = "".join(event.text for event in detail.log if isinstance(event, TaskOutput))
    output = (result.text if result is not None and result.text else streamed).rstrip()
    used = len(detail.attempts[-4:]) + 3 + (min(ERROR_LINES, 1) if result and result.error else 0)
    tail = output.splitlines()[-max(1, rows - used) :] if output else []
    parts.append(Text("output" + ("" if tail else ": none yet"), style="grey62"))
    if tail:
        parts.append(Text("\n".join(tail)))
    title = Text.assemble(f"task {task_id}  ", (detail.state.value, STATE_STYLES[detail.state]))
    if detail.task.engine:
        title.append(f"  {detail.task.engine}", style="grey62")
    return Panel(Group(*parts), title=title, title_align="left", border_style="grey42")


def _runs(model: WatchModel) -> Panel:
    table = Table(box=None, padding=(0, 2), show_header=True, header_style="grey62")
    for name, justify in (
        ("run", "left"),
        ("name", "left"),
        ("state", "left"),
        ("done", "right"),
        ("cost", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for run in model.runs[:RUNS_SHOWN]:
        done = sum(count for state, count in run.counts.items() if state.is_final)
        marker = "▸ " if run.id == model.run_id else "  "
        table.add_row(
            marker + run.id,
            run.name or "",
            Text(run.state.value, style=RUN_STYLES.get(run.state, "")),
            f"{done}/{run.total}",
            f"${run.usage.cost_usd:.4f}",
        )
    return Panel(table, title="runs", title_align="left", border_style="grey42")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"

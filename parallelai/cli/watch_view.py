"""What `parallelai watch` shows: a run's state folded from its events, and the screen drawn from it.

`WatchModel.apply(event)` is O(1) per event, so a replay of a run with thousands of tasks is
cheap; `render(model, now)` draws the whole screen and is called a few times a second at most.
Only `running` tasks are active: a task waiting out a retry backoff (`retrying`) holds no slot,
and is listed apart with when it runs again.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from parallelai.events import BudgetReached, Event, RunFinished, RunStarted, TaskRetrying, TaskStateChanged
from parallelai.models import RunState, TaskState
from parallelai.wire import RunOut

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

    def focus(self, run_id: str) -> None:
        if run_id != self.run_id:
            self.run_id, self.run = run_id, None
            self.tasks.clear()
            self.failures.clear()

    def add_tasks(self, task_ids: list[str]) -> None:
        for task_id in task_ids:
            self.tasks.setdefault(task_id, _Task())

    def apply(self, event: Event) -> None:
        if event.run_id != self.run_id:
            return
        match event:
            case TaskStateChanged():
                task = self.tasks.setdefault(event.task_id, _Task())
                task.state, task.attempt = event.state, event.attempt
                task.since = event.at if event.state is TaskState.RUNNING else None
                task.retry_at = event.retry_at if event.state is TaskState.RETRYING else None
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

    def counts(self) -> Counter[TaskState]:
        return Counter(task.state for task in self.tasks.values())

    def retryable(self) -> int:
        """Tasks `r` would run again: the failed, cancelled and skipped ones of a run that ended."""
        counts = self.counts()
        return sum(counts[state] for state in RETRYABLE)


def render(model: WatchModel, now: float, height: int = 40) -> RenderableType:
    if model.run_id is None:
        body: list[RenderableType] = [Text("waiting for a run to start…", style="italic grey62")]
    else:
        counts = model.counts()
        body = [_header(model, now), _counts(counts, len(model.tasks))]
        waiting = counts[TaskState.RETRYING]
        retry_rows = min(waiting, RETRYING_SHOWN) + (waiting > RETRYING_SHOWN)
        rows = max(3, height - 14 - FAILURES_SHOWN - RUNS_SHOWN - (retry_rows + 2 if waiting else 0))
        body.append(_active(model, now, rows))
        if waiting:
            body.append(_retrying(model, now))
        body.append(_failures(model))
    body.append(_runs(model))
    footer = Text.assemble(("q", "bold"), " quit   ", ("c", "bold"), " cancel the run   ")
    # Counted only once the run has ended: a frame of a live run does not walk its tasks twice.
    if model.run is not None and model.run.state.is_final and (retryable := model.retryable()):
        footer.append_text(
            Text.assemble(("r", "bold"), f" retry its {retryable} failed, cancelled or skipped tasks   ")
        )
    footer.append(model.note, style="yellow")
    return Group(*body, footer)


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


def _counts(counts: Counter[TaskState], total: int) -> Group:
    line = Text()
    for state in TaskState:
        if state in ALWAYS_COUNTED or counts[state]:
            line.append(f"{state.value} {counts[state]}", style=STATE_STYLES[state])
            line.append("   ")
    done = sum(counts[state] for state in TaskState if state.is_final)
    line.append(f"done {done}/{total}", style="bold")
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
        table.add_row(task_id, str(task.attempt), _duration(now - (task.since or now)))
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
        table.add_row(task_id, str(task.attempt), due, style=STATE_STYLES[TaskState.RETRYING])
    if len(retrying) > RETRYING_SHOWN:
        table.add_row(f"… and {len(retrying) - RETRYING_SHOWN} more", "", "", style="grey62")
    title = f"waiting to retry ({len(retrying)}, no slot held)"
    return Panel(table, title=title, title_align="left", border_style="grey42")


def _failures(model: WatchModel) -> Panel:
    table = Table(box=None, padding=(0, 2), show_header=False)
    table.add_column("task", style="red1", no_wrap=True)
    table.add_column("error", overflow="ellipsis", no_wrap=True)
    for task_id, message in model.failures:
        table.add_row(task_id, message)
    content: RenderableType = table if model.failures else Text("none", style="grey62")
    return Panel(content, title="recent failures", title_align="left", border_style="grey42")


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

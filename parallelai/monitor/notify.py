"""Run notifications: a Slack incoming webhook and a generic JSON webhook, fed by the event bus.

`Notifier.follow(service, after)` turns run-finished and budget-reached events into notices
(counts, cost, the failed tasks and why, a dashboard link) and hands them to a delivery task
through a bounded queue. One run outcome is one message: a run stopped by its budget is notified
once, when it has ended (the tasks in flight then have been paid for too), not also as a failure.
A run that ends `interrupted` (its process stopped) is neither a success nor a failure: its notice
says so, and how to resume it.
Nothing here can hold a run up: the bus never waits for a subscriber, a full queue drops the
notice (with a warning), and a webhook that fails is retried with backoff in the delivery task
only, then given up on.

Why not stamina: its retry hooks are process-wide (by default each retry is logged with the
exception's repr and counted in prometheus_client's global registry), so our per-retry log line,
which must never carry the webhook URL (a credential), plus the stop on a refusing 4xx and the
Retry-After wait, would take hooks as long as the 23-line loop in `_post` they would replace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream
from pydantic import BaseModel

from parallelai.events import BudgetReached, Event, RunFinished
from parallelai.models import RunState, TaskRecord, TaskState, Usage
from parallelai.monitor.notify_config import NotifyConfig, Trigger
from parallelai.orchestration.service import OrchestrationService

log = logging.getLogger("parallelai.notify")
QUEUE_SIZE = 100
MAX_DELAY_S = 60.0
FAILURES_LISTED = 5  # the failed tasks a message names; the others are counted
ERROR_CHARS = 200  # of a failed task's error's first line
# Finished tasks first, then (in an interrupted run) those it had not finished.
_COUNTED = (
    TaskState.SUCCEEDED,
    TaskState.FAILED,
    TaskState.CANCELLED,
    TaskState.SKIPPED,
    TaskState.INTERRUPTED,
    TaskState.RETRYING,
    TaskState.RUNNING,
    TaskState.READY,
    TaskState.PENDING,
)


# The trigger a run's end is (a run never ends pending or running).
_ENDS: dict[RunState, Trigger] = {
    RunState.SUCCEEDED: "succeeded",
    RunState.FAILED: "failed",
    RunState.CANCELLED: "cancelled",
    RunState.INTERRUPTED: "interrupted",
    RunState.PENDING: "interrupted",
    RunState.RUNNING: "interrupted",
}
_EMOJI = {
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "cancelled": ":no_entry_sign:",
    "interrupted": ":pause_button:",
    "budget": ":money_with_wings:",
}


class FailedTask(BaseModel):
    """A failed task as a message names it: its id and its error's first line."""

    task_id: str
    error: str


@dataclass(frozen=True, slots=True)
class Notice:
    trigger: Trigger
    run_id: str
    name: str | None
    state: RunState
    counts: dict[TaskState, int]
    usage: Usage
    elapsed_s: float
    link: str | None
    detail: str | None = None  # e.g. which budget was reached
    failures: tuple[FailedTask, ...] = ()  # the first FAILURES_LISTED failed tasks, in plan order

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def failures_not_listed(self) -> int:
        return max(0, self.counts.get(TaskState.FAILED, 0) - len(self.failures))

    @property
    def title(self) -> str:
        run = f"Run {self.name!r}" if self.name else f"Run {self.run_id}"
        if self.trigger == "budget":
            return f"{run} {self.state.value}, stopped by its budget"
        if self.state is RunState.INTERRUPTED:
            return f"{run} was interrupted (resumable)"
        return f"{run} {self.state.value}"

    @property
    def summary(self) -> str:
        tasks = f"{_tally(self.counts) or 'nothing finished'} of {self.total} tasks"
        return f"{tasks}; cost {money(self.usage.cost_usd)}; {self.usage.total_tokens:,} tokens"

    @property
    def failure_lines(self) -> list[str]:
        """`t003: execution: exit code 2`, one a failed task listed, then `… and 12 more`."""
        lines = [f"{failure.task_id}: {failure.error}" for failure in self.failures]
        if self.failures_not_listed:
            lines.append(f"… and {self.failures_not_listed} more")
        return lines


def money(usd: float) -> str:
    """`$0.41`: cents, as a person reads a bill; a cost under a cent is not shown as nothing."""
    if 0 < usd < 0.005:
        return "<$0.01"
    return f"${usd:,.2f}"


def _tally(counts: dict[TaskState, int]) -> str:
    return ", ".join(f"{counts.get(state, 0)} {state.value}" for state in _COUNTED if counts.get(state))


class WebhookPayload(BaseModel):
    """What the generic webhook receives (a JSON POST)."""

    event: Literal["run.succeeded", "run.failed", "run.cancelled", "run.interrupted", "run.budget_reached"]
    run_id: str
    name: str | None
    state: RunState
    counts: dict[TaskState, int]
    total: int
    usage: Usage
    elapsed_s: float
    dashboard_url: str | None
    text: str
    failures: list[FailedTask] = []  # the first failed tasks, in plan order
    failures_not_listed: int = 0  # failed tasks beyond those

    @classmethod
    def of(cls, notice: Notice) -> WebhookPayload:
        event = "run.budget_reached" if notice.trigger == "budget" else f"run.{notice.trigger}"
        return cls(
            event=event,
            run_id=notice.run_id,
            name=notice.name,
            state=notice.state,
            counts=notice.counts,
            total=notice.total,
            usage=notice.usage,
            elapsed_s=round(notice.elapsed_s, 3),
            dashboard_url=notice.link,
            text=plain_text(notice),
            failures=list(notice.failures),
            failures_not_listed=notice.failures_not_listed,
        )


def plain_text(notice: Notice) -> str:
    text = f"{notice.title}: {notice.summary}"
    if notice.detail:
        text = f"{text}. {notice.detail}"
    if notice.failures:
        text = f"{text}. Failed: {'; '.join(notice.failure_lines)}"
    return text


def slack_payload(notice: Notice) -> dict[str, Any]:
    """A Block Kit message; `text` is the fallback Slack shows in notifications."""
    fields = [
        ("Tasks", _tally(notice.counts)),
        ("Of", f"{notice.total} tasks"),
        ("Cost", money(notice.usage.cost_usd)),
        ("Tokens", f"{notice.usage.total_tokens:,}"),
        ("Elapsed", _elapsed(notice.elapsed_s)),
    ]
    emoji = _EMOJI["budget" if notice.trigger == "budget" else notice.state.value]
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{emoji} *{_escape(notice.title)}*  `{notice.run_id}`"},
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{label}*\n{_escape(value or '-')}"} for label, value in fields
            ],
        },
    ]
    if notice.failures:
        listed = [f"• `{_escape(failure.task_id)}` {_escape(failure.error)}" for failure in notice.failures]
        if notice.failures_not_listed:
            listed.append(f"… and {notice.failures_not_listed} more")
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Failed tasks*\n" + "\n".join(listed)}}
        )
    context = [notice.detail] if notice.detail else []
    if notice.link:
        context.append(f"<{notice.link}|Open in the dashboard>")
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    return {"text": plain_text(notice), "blocks": blocks}


def _elapsed(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def _escape(text: str) -> str:
    # Slack's mrkdwn treats these three as markup.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(slots=True)
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    _changed: anyio.Event = field(default_factory=anyio.Event)

    def count(self, outcome: Literal["sent", "failed", "dropped"]) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_until(self, condition: Callable[[DeliveryStats], bool]) -> None:
        while not condition(self):
            await self._changed.wait()


class Notifier:
    def __init__(
        self,
        config: NotifyConfig,
        daemon_url: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.config = config
        self._base = str(config.dashboard_url or daemon_url or "").rstrip("/") or None
        self._transport = transport
        self._queue_size = queue_size
        self.stats = DeliveryStats()
        # Runs whose budget was reached and that have not ended yet: notified once, at the end.
        self._budget_reached: dict[str, BudgetReached] = {}

    async def follow(self, service: OrchestrationService, after: int) -> None:
        """Notify about every qualifying event after `after`, until cancelled or the bus closes."""
        send, receive = anyio.create_memory_object_stream[Notice](self._queue_size)
        async with anyio.create_task_group() as group:
            group.start_soon(self._deliver_all, receive)
            with send:
                async with aclosing(service.events(after)) as events:
                    async for event in events:
                        notice = await self.notice_for(service, event)
                        if notice is None:
                            continue
                        try:
                            send.send_nowait(notice)
                        except anyio.WouldBlock:
                            self.stats.count("dropped")
                            log.warning(
                                "notification queue full: dropped the notice for run %s", notice.run_id
                            )

    async def notice_for(self, service: OrchestrationService, event: Event) -> Notice | None:
        """The notice `event` calls for, if any: a run's end (stopped by its budget or not)."""
        match event:
            case BudgetReached() if "budget" in self.config.on:
                # Said when the run ends, in the one message about its outcome.
                self._budget_reached[event.run_id] = event
                return None
            case RunFinished():
                reached = self._budget_reached.pop(event.run_id, None)
                if reached is None and event.state.value not in self.config.on:
                    return None
                row = await service.store.get_run(event.run_id)
                trigger: Trigger = "budget" if reached is not None else _ENDS[event.state]
                detail: str | None
                if reached is not None:
                    detail = _budget_detail(reached, event.usage)
                elif event.state is RunState.INTERRUPTED:
                    detail = _resume_hint(event)
                else:
                    detail = event.note
                failures: tuple[FailedTask, ...] = ()
                if event.counts.get(TaskState.FAILED):
                    failures = failed_tasks(await service.store.task_records(event.run_id))
                return Notice(
                    trigger=trigger,
                    run_id=event.run_id,
                    name=row.name if row else None,
                    state=event.state,
                    counts=event.counts,
                    usage=event.usage,
                    elapsed_s=max(0.0, event.at - row.created_at) if row else 0.0,
                    link=self._link(event.run_id),
                    detail=detail,
                    failures=failures,
                )
            case _:
                return None

    def _link(self, run_id: str) -> str | None:
        return f"{self._base}/#/runs/{run_id}" if self._base else None

    async def _deliver_all(self, notices: MemoryObjectReceiveStream[Notice]) -> None:
        timeout = httpx.Timeout(self.config.timeout_s)
        async with notices, httpx.AsyncClient(timeout=timeout, transport=self._transport) as client:
            async for notice in notices:
                async with anyio.create_task_group() as group:
                    if self.config.slack_webhook is not None:
                        url = str(self.config.slack_webhook)
                        group.start_soon(self._post, client, "Slack", url, slack_payload(notice), {}, notice)
                    if self.config.webhook is not None:
                        body = WebhookPayload.of(notice).model_dump(mode="json")
                        headers = self.config.webhook_headers
                        url = str(self.config.webhook)
                        group.start_soon(self._post, client, "webhook", url, body, headers, notice)

    async def _post(
        self,
        client: httpx.AsyncClient,
        label: str,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        notice: Notice,
    ) -> None:
        """POST with retries on network errors, 429 and 5xx; backoff doubles, Retry-After wins."""
        delay = self.config.backoff_s
        problem = ""
        for attempt in range(self.config.retries + 1):
            wait = delay
            try:
                response = await client.post(url, json=body, headers=headers)
            except httpx.HTTPError as error:
                problem = type(error).__name__
            else:
                if response.is_success:
                    self.stats.count("sent")
                    return
                problem = f"HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    break  # the receiver refuses this message; sending it again will not help
                wait = _retry_after(response) or delay
            if attempt < self.config.retries:
                # The URL is a secret (a Slack webhook URL is its own credential): never log it.
                log.info("%s notification failed (%s); retrying in %.1fs", label, problem, wait)
                await anyio.sleep(min(wait, MAX_DELAY_S))
                delay *= 2
        self.stats.count("failed")
        log.warning("gave up on a %s notification for run %s: %s", label, notice.run_id, problem)


def _budget_detail(reached: BudgetReached, spent: Usage) -> str:
    if reached.limit == "cost":
        used, limit = money(spent.cost_usd), money(reached.maximum)
    else:
        used, limit = f"{spent.total_tokens:,} tokens", f"{reached.maximum:,.0f}"
    return f"{reached.limit} budget reached: {used} of {limit}, with the tasks that were running then"


def failed_tasks(records: list[TaskRecord]) -> tuple[FailedTask, ...]:
    """The first FAILURES_LISTED failed tasks of `records`, each with its error's first line."""
    failed = [record for record in records if record.state is TaskState.FAILED][:FAILURES_LISTED]
    return tuple(FailedTask(task_id=record.task.id, error=_first_line(record)) for record in failed)


def _first_line(record: TaskRecord) -> str:
    error = record.result.error if record.result else None
    text = record.reason or (f"{error.kind}: {error.message}" if error else "failed")
    line = next((line.strip() for line in text.splitlines() if line.strip()), "failed")
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 1] + "…"


def _resume_hint(event: RunFinished) -> str:
    why = event.note or "its process stopped before it finished"
    return f"`parallelai resume {event.run_id}` continues it, keeping the finished tasks ({why})"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None

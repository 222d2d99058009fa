"""Run notifications: a Slack incoming webhook and a generic JSON webhook, fed by the event bus.

`Notifier.follow(service, after)` turns run-finished and budget-reached events into notices
(counts, cost, a dashboard link) and hands them to a delivery task through a bounded queue. A run
that ends `interrupted` (its process stopped) is neither a success nor a failure: its notice says
so, and how to resume it.
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
from parallelai.models import RunState, TaskState, Usage
from parallelai.monitor.notify_config import NotifyConfig, Trigger
from parallelai.orchestration.service import OrchestrationService

log = logging.getLogger("parallelai.notify")
QUEUE_SIZE = 100
MAX_DELAY_S = 60.0
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

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def title(self) -> str:
        run = f"Run {self.name!r}" if self.name else f"Run {self.run_id}"
        if self.trigger == "budget":
            return f"{run} reached its budget"
        if self.state is RunState.INTERRUPTED:
            return f"{run} was interrupted (resumable)"
        return f"{run} {self.state.value}"

    @property
    def summary(self) -> str:
        parts = [f"{self.counts.get(state, 0)} {state.value}" for state in _COUNTED if self.counts.get(state)]
        tasks = f"{', '.join(parts) or 'nothing finished'} of {self.total} tasks"
        return f"{tasks}; cost ${self.usage.cost_usd:.4f}; {self.usage.total_tokens:,} tokens"


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
        )


def plain_text(notice: Notice) -> str:
    text = f"{notice.title}: {notice.summary}"
    return f"{text}. {notice.detail}" if notice.detail else text


def slack_payload(notice: Notice) -> dict[str, Any]:
    """A Block Kit message; `text` is the fallback Slack shows in notifications."""
    fields = [
        (
            "Tasks",
            ", ".join(f"{notice.counts.get(s, 0)} {s.value}" for s in _COUNTED if notice.counts.get(s)),
        ),
        ("Of", f"{notice.total} tasks"),
        ("Cost", f"${notice.usage.cost_usd:.4f}"),
        ("Tokens", f"{notice.usage.total_tokens:,}"),
        ("Elapsed", f"{notice.elapsed_s:.1f}s"),
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{_escape(notice.title)}*  `{notice.run_id}`"},
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{label}*\n{_escape(value or '-')}"} for label, value in fields
            ],
        },
    ]
    context = [notice.detail] if notice.detail else []
    if notice.link:
        context.append(f"<{notice.link}|Open in the dashboard>")
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    return {"text": plain_text(notice), "blocks": blocks}


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
        match event:
            case RunFinished() if event.state.value in self.config.on:
                row = await service.store.get_run(event.run_id)
                return Notice(
                    trigger=event.state.value,
                    run_id=event.run_id,
                    name=row.name if row else None,
                    state=event.state,
                    counts=event.counts,
                    usage=event.usage,
                    elapsed_s=max(0.0, event.at - row.created_at) if row else 0.0,
                    link=self._link(event.run_id),
                    detail=_resume_hint(event) if event.state is RunState.INTERRUPTED else event.note,
                )
            case BudgetReached() if "budget" in self.config.on:
                summary = await service.summary(event.run_id)
                spent = (
                    f"${event.spent:.4f} of ${event.maximum:.4f}"
                    if event.limit == "cost"
                    else (f"{event.spent:,.0f} of {event.maximum:,.0f} tokens")
                )
                return Notice(
                    trigger="budget",
                    run_id=event.run_id,
                    name=summary.name,
                    state=summary.state,
                    counts=summary.counts,
                    usage=summary.usage,
                    elapsed_s=max(0.0, event.at - summary.created_at),
                    link=self._link(event.run_id),
                    detail=f"{event.limit} budget reached: {spent}; no new tasks start",
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


def _resume_hint(event: RunFinished) -> str:
    why = event.note or "its process stopped before it finished"
    return f"`parallelai resume {event.run_id}` continues it, keeping the finished tasks ({why})"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None

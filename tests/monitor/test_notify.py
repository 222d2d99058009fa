"""Notifications reach a real local webhook receiver: Slack's Block Kit message and the generic JSON
payload, with counts, cost and a dashboard link; failed deliveries are retried; runs never wait."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.models import RunLimits, RunSpec, RunState, Task, TaskOptions, TaskState
from parallelai.monitor.notify import Notifier, WebhookPayload, money
from parallelai.monitor.notify_config import NotifyConfig, load_notify_config
from parallelai.orchestration.service import OrchestrationService
from parallelai.wire import RunCreated
from tests.monitor._receiver import webhook_receiver
from tests.orchestration._support import wait_for_state
from tests.server._support import parse, running_app

pytestmark = pytest.mark.anyio

DEADLINE_S = 20.0


def _write_user_config(state: Path, text: str) -> None:
    state.mkdir(parents=True)
    (state / "config.toml").write_text(text)


def _fields(payload: dict[str, Any]) -> dict[str, str]:
    """Slack section fields as {label: value}."""
    fields = [field["text"] for block in payload["blocks"] for field in block.get("fields", [])]
    return dict(text.strip("*").split("*\n", 1) for text in fields)


async def test_a_failed_run_sends_slack_and_webhook_messages_with_counts_cost_and_a_link(
    tmp_path: Path, isolated_state: Path
) -> None:
    async with webhook_receiver() as receiver:
        _write_user_config(
            isolated_state,
            "[notify]\n"
            f'slack_webhook = "{receiver.url}/slack"\n'
            f'webhook = "{receiver.url}/hook"\n'
            'webhook_headers = { Authorization = "Bearer hook-secret" }\n'
            "backoff_s = 0.01\n",
        )
        receiver.fail_next("/slack", 503)  # the first attempt fails; the retry gets through
        notify = load_notify_config(tmp_path)
        work = {
            "strategy": "parallel",
            "tasks": [
                *({"prompt": f"ok {index}"} for index in range(5)),
                {
                    "id": "broken",
                    "prompt": "x",
                    "options": {"retries": 0, "engine_options": {"fail_attempts": 1}},
                },
            ],
        }
        body = {
            "name": "nightly <review>",
            "work": work,
            "engines": {"echo": {"cost_per_1k_tokens": 2.0}},
        }
        async with running_app(tmp_path / "db.sqlite", notify=notify) as daemon:
            with anyio.fail_after(DEADLINE_S):
                run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
                summary = await daemon.service.wait(run_id)
                [slack] = await receiver.wait_for("/slack")
                [hook] = await receiver.wait_for("/hook")

    link = f"{daemon.url}/#/runs/{run_id}"
    assert receiver.attempts["/slack"] == 2
    assert slack["text"].startswith("Run 'nightly <review>' failed: 5 succeeded, 1 failed of 6 tasks")
    assert f"cost {money(summary.usage.cost_usd)}" in slack["text"]
    assert f"`{run_id}`" in slack["blocks"][0]["text"]["text"]
    assert "&lt;review&gt;" in slack["blocks"][0]["text"]["text"]  # mrkdwn markup is escaped
    fields = _fields(slack)
    assert fields["Tasks"] == "5 succeeded, 1 failed"
    assert fields["Of"] == "6 tasks"
    assert fields["Cost"] == money(summary.usage.cost_usd)
    assert fields["Tokens"] == f"{summary.usage.total_tokens:,}"
    assert f"<{link}|Open in the dashboard>" in slack["blocks"][-1]["elements"][0]["text"]

    payload = WebhookPayload.model_validate(hook)
    assert payload.event == "run.failed"
    assert payload.run_id == run_id
    assert payload.counts[TaskState.SUCCEEDED] == 5
    assert payload.counts[TaskState.FAILED] == 1
    assert payload.total == 6
    assert payload.usage == summary.usage
    assert payload.dashboard_url == link
    assert receiver.headers["/hook"][0]["authorization"] == "Bearer hook-secret"


async def test_reaching_the_budget_is_notified(tmp_path: Path) -> None:
    async with webhook_receiver() as receiver:
        config = NotifyConfig.model_validate({"webhook": f"{receiver.url}/hook", "on": ["budget"]})
        body = {
            "prompts": [f"prompt {index}" for index in range(20)],
            "engines": {"echo": {"cost_per_1k_tokens": 100.0}},
            "parallel": 1,
            "max_cost_usd": 0.5,
        }
        async with running_app(tmp_path / "db.sqlite", notify=config) as daemon:
            with anyio.fail_after(DEADLINE_S):
                run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
                await daemon.service.wait(run_id)
                [hook] = await receiver.wait_for("/hook")

    payload = WebhookPayload.model_validate(hook)
    assert payload.event == "run.budget_reached"
    assert payload.run_id == run_id
    assert "cost budget reached: $" in payload.text
    assert payload.usage.cost_usd >= 0.5


async def test_a_dead_webhook_never_holds_up_runs_and_excess_notices_are_dropped(tmp_path: Path) -> None:
    # A bound socket that never listens: every connection is refused, and the backoff is long.
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{dead.getsockname()[1]}/hook"
        config = NotifyConfig.model_validate({"webhook": url, "retries": 10, "backoff_s": 60})
        notifier = Notifier(config, queue_size=1)
        with anyio.fail_after(DEADLINE_S):
            async with (
                OrchestrationService.open(tmp_path / "db.sqlite") as service,
                anyio.create_task_group() as group,
            ):
                group.start_soon(notifier.follow, service, service.bus.last_seq)
                for _ in range(4):
                    summary = await service.run(RunSpec(tasks=[Task(prompt="x")], limits=RunLimits()))
                    assert summary.counts[TaskState.SUCCEEDED] == 1
                # One notice is being retried, one waits in the queue, the rest are dropped.
                await notifier.stats.wait_until(lambda stats: stats.dropped >= 2)
                group.cancel_scope.cancel()
    assert notifier.stats.sent == 0


async def _interrupted_elsewhere(store_path: Path) -> str:
    """A run another process on the store (a `parallelai run`) was executing when it stopped."""
    async with OrchestrationService.open(store_path) as other:
        slow = Task(id="slow", prompt="y", options=TaskOptions(engine_options={"hang": True}))
        run_id = await other.submit(RunSpec(tasks=[Task(id="done", prompt="x"), slow], limits=RunLimits()))
        await wait_for_state(other, run_id, "done", TaskState.SUCCEEDED)
        await wait_for_state(other, run_id, "slow", TaskState.RUNNING)
    return run_id


async def test_a_run_interrupted_by_its_process_stopping_is_notified_as_resumable_not_failed(
    tmp_path: Path,
) -> None:
    async with webhook_receiver() as receiver:
        config = NotifyConfig.model_validate({"webhook": f"{receiver.url}/hook", "on": ["interrupted"]})
        async with running_app(tmp_path / "db.sqlite", notify=config):
            with anyio.fail_after(DEADLINE_S):
                run_id = await _interrupted_elsewhere(tmp_path / "db.sqlite")
                [hook] = await receiver.wait_for("/hook")

    payload = WebhookPayload.model_validate(hook)
    assert payload.event == "run.interrupted"
    assert payload.run_id == run_id
    assert payload.state is RunState.INTERRUPTED
    assert payload.counts[TaskState.SUCCEEDED] == 1
    assert payload.counts[TaskState.INTERRUPTED] == 1
    assert payload.text.startswith(
        f"Run {run_id} was interrupted (resumable): 1 succeeded, 1 interrupted of 2"
    )
    assert f"`parallelai resume {run_id}` continues it" in payload.text
    assert "failed" not in payload.text


async def test_interrupted_runs_are_not_notified_unless_asked_for(tmp_path: Path) -> None:
    async with webhook_receiver() as receiver:
        config = NotifyConfig.model_validate({"webhook": f"{receiver.url}/hook"})  # the default `on`
        async with running_app(tmp_path / "db.sqlite", notify=config) as daemon:
            with anyio.fail_after(DEADLINE_S):
                await _interrupted_elsewhere(tmp_path / "db.sqlite")
                # Notices are delivered in order: once the later run's arrives, the earlier one would have.
                run_id = parse(await daemon.http.post("/v1/runs", json={"prompts": ["x"]}), RunCreated).id
                [hook] = await receiver.wait_for("/hook")

    assert WebhookPayload.model_validate(hook).event == "run.succeeded"
    assert hook["run_id"] == run_id

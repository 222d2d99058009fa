"""What a notification says about a run's outcome, as a local receiver gets it: the failed tasks by
name with their error's first line (then a count), costs in cents, and a budget stop told once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.models import ErrorKind, Task, TaskError, TaskRecord, TaskResult, TaskState
from parallelai.monitor.notify import FAILURES_LISTED, WebhookPayload, failed_tasks, money
from parallelai.monitor.notify_config import NotifyConfig
from parallelai.wire import RunCreated
from tests.monitor._receiver import webhook_receiver
from tests.server._support import parse, running_app

pytestmark = pytest.mark.anyio

DEADLINE_S = 20.0
BROKEN = 8


def _failing_run() -> dict[str, Any]:
    broken = {"retries": 0, "engine_options": {"fail_attempts": 1, "failure_kind": "execution"}}
    tasks = [
        {"id": "fine", "prompt": "ok"},
        *({"id": f"broken-{index}", "prompt": "x", "options": broken} for index in range(BROKEN)),
    ]
    return {
        "name": "nightly",
        "work": {"strategy": "parallel", "tasks": tasks},
        "engines": {"echo": {"cost_per_1k_tokens": 37.0}},
    }


async def test_a_failure_message_names_the_first_failed_tasks_with_their_error_then_counts_the_rest(
    tmp_path: Path,
) -> None:
    async with webhook_receiver() as receiver:
        config = NotifyConfig.model_validate(
            {"slack_webhook": f"{receiver.url}/slack", "webhook": f"{receiver.url}/hook"}
        )
        async with running_app(tmp_path / "db.sqlite", notify=config) as daemon:
            with anyio.fail_after(DEADLINE_S):
                run_id = parse(await daemon.http.post("/v1/runs", json=_failing_run()), RunCreated).id
                summary = await daemon.service.wait(run_id)
                [slack] = await receiver.wait_for("/slack")
                [hook] = await receiver.wait_for("/hook")

    payload = WebhookPayload.model_validate(hook)
    assert payload.event == "run.failed"
    assert [failure.task_id for failure in payload.failures] == [
        f"broken-{i}" for i in range(FAILURES_LISTED)
    ]
    assert all(failure.error.startswith("execution: ") for failure in payload.failures)
    assert payload.failures_not_listed == BROKEN - FAILURES_LISTED
    assert "Failed: broken-0: execution: " in payload.text
    assert payload.text.endswith(f"… and {BROKEN - FAILURES_LISTED} more")

    listed = slack["blocks"][2]["text"]["text"]
    assert listed.startswith("*Failed tasks*\n• `broken-0` execution: ")
    assert listed.count("• ") == FAILURES_LISTED
    assert listed.endswith(f"… and {BROKEN - FAILURES_LISTED} more")
    assert slack["blocks"][0]["text"]["text"].startswith(":x: *Run 'nightly' failed*")
    # Cents, as people read a bill: not `0.41075999999999224`.
    cost = re.search(r"cost (\$\d+\.\d{2});", slack["text"])
    assert cost is not None, slack["text"]
    assert cost.group(1) == money(summary.usage.cost_usd)


async def test_a_run_stopped_by_its_budget_sends_one_message_when_it_has_ended(tmp_path: Path) -> None:
    async with webhook_receiver() as receiver:
        # The default triggers: succeeded, failed and budget; the budget stop ends the run `failed`.
        config = NotifyConfig.model_validate({"webhook": f"{receiver.url}/hook"})
        body = {
            "prompts": [f"prompt {index}" for index in range(20)],
            "engines": {"echo": {"cost_per_1k_tokens": 100.0}},
            "parallel": 1,
            "max_cost_usd": 0.5,
        }
        async with running_app(tmp_path / "db.sqlite", notify=config) as daemon:
            with anyio.fail_after(DEADLINE_S):
                stopped = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
                await daemon.service.wait(stopped)
                # Notices are delivered in order: once the next run's arrives, a second one about
                # the stopped run would have arrived before it.
                after = parse(await daemon.http.post("/v1/runs", json={"prompts": ["x"]}), RunCreated).id
                await daemon.service.wait(after)
                received = await receiver.wait_for("/hook", 2)

    first, second = (WebhookPayload.model_validate(hook) for hook in received)
    assert len(received) == 2
    assert (first.run_id, first.event, first.state.value) == (stopped, "run.budget_reached", "failed")
    assert first.text.startswith(f"Run {stopped} failed, stopped by its budget: 1 succeeded, 19 skipped")
    assert "cost budget reached: $0.50 of $0.50, with the tasks that were running then" in first.text
    assert (second.run_id, second.event) == (after, "run.succeeded")


async def test_without_the_budget_trigger_a_budget_stop_is_told_as_the_runs_failure(tmp_path: Path) -> None:
    async with webhook_receiver() as receiver:
        config = NotifyConfig.model_validate({"webhook": f"{receiver.url}/hook", "on": ["failed"]})
        body = {
            "prompts": [f"prompt {index}" for index in range(5)],
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
    assert (payload.run_id, payload.event) == (run_id, "run.failed")
    assert "budget reached" in payload.text


def _failed(task_id: str, reason: str | None, message: str = "boom") -> TaskRecord:
    error = TaskError(kind=ErrorKind.EXECUTION, message=message)
    return TaskRecord(
        run_id="r1",
        task=Task(id=task_id, prompt="p"),
        state=TaskState.FAILED,
        reason=reason,
        result=TaskResult(error=error),
    )


def test_a_failed_tasks_error_is_its_first_non_blank_line_cut_to_a_readable_length() -> None:
    records = [
        _failed("a", "\n  execution: exit code 2\nTraceback (most recent call last):\n  ..."),
        _failed("b", None, message="no such file\nsecond line"),
        _failed("c", "x" * 500),
        TaskRecord(run_id="r1", task=Task(id="ok", prompt="p"), state=TaskState.SUCCEEDED),
    ]
    a, b, c = failed_tasks(records)
    assert (a.task_id, a.error) == ("a", "execution: exit code 2")
    assert (b.task_id, b.error) == ("b", "execution: no such file")
    assert len(c.error) == 200
    assert c.error.endswith("…")


@pytest.mark.parametrize(
    ("usd", "shown"),
    [
        (0.41075999999999224, "$0.41"),
        (0.0, "$0.00"),
        (0.001, "<$0.01"),
        (1234.5, "$1,234.50"),
        (0.006, "$0.01"),
    ],
)
def test_money_is_shown_in_cents(usd: float, shown: str) -> None:
    assert money(usd) == shown

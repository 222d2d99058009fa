"""`parallelai lsp` end to end: runs started, followed, listed, cancelled, retried and refused over real stdio."""

from __future__ import annotations

from contextlib import aclosing
from pathlib import Path
from typing import Any

import anyio
import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from parallelai.client.daemon_client import DaemonClient
from parallelai.events import RunFinished
from parallelai.server.lsp import protocol
from tests.lsp._session import Inbox, Session
from tests.server._support import FAILED_DAG

pytestmark = pytest.mark.anyio

DEADLINE_S = 60.0


def echo_run(*prompts: str, latency: float = 0.05, **extra: Any) -> dict[str, Any]:
    return {
        "engine": "echo",
        "prompts": list(prompts),
        "engines": {"echo": {"latency": latency}},
        **extra,
    }


def progress_values(inbox: Inbox, token: object) -> list[dict[str, Any]]:
    return [params.value for params in inbox.of(types.PROGRESS) if params.token == token]


async def progress_end(session: Session, token: object) -> list[dict[str, Any]]:
    def ended(inbox: Inbox) -> list[dict[str, Any]] | None:
        values = progress_values(inbox, token)
        return values if values and values[-1]["kind"] == "end" else None

    return await session.inbox.wait_for(ended)


async def test_initialize_declares_every_command_and_code_actions(session: Session) -> None:
    capabilities = session.initialized.capabilities
    assert capabilities.execute_command_provider is not None
    assert set(capabilities.execute_command_provider.commands) == {
        "parallelai.server.startRun",
        "parallelai.server.listRuns",
        "parallelai.server.getRun",
        "parallelai.server.cancelRun",
        "parallelai.server.retryRun",
        "parallelai.server.listTemplates",
        "parallelai.server.openTaskResult",
    }
    assert isinstance(capabilities.code_action_provider, types.CodeActionOptions)
    assert session.initialized.server_info is not None
    assert session.initialized.server_info.name == "parallelai"


async def test_a_started_run_streams_its_events_to_the_end_with_progress(
    session: Session, workspace: Path
) -> None:
    with anyio.fail_after(DEADLINE_S):
        started = await session.request(
            protocol.START_RUN, {"run": echo_run("one", "two", "three", name="three echoes")}
        )
        run_id = started["id"]
        events = await session.run_events_until_finished(run_id)
        token = f"parallelai/run/{run_id}"
        progress = await progress_end(session, token)
        async with await DaemonClient.connect() as daemon:
            found = await daemon.findings(run_id)

    assert started["run"]["id"] == run_id
    assert started["run"]["total"] == 3
    assert [event["seq"] for event in events] == sorted({event["seq"] for event in events})
    assert events[0]["type"] == "run.created"
    assert events[-1]["type"] == "run.finished"
    assert events[-1]["state"] == "succeeded"
    outputs = sorted(event["text"] for event in events if event["type"] == "task.output")
    assert outputs == ["echo: one", "echo: three", "echo: two"]

    assert [c.token for c in session.inbox.of(types.WINDOW_WORK_DONE_PROGRESS_CREATE)] == [token]
    begin, *reports, end = progress
    assert (begin["kind"], begin["title"]) == ("begin", "parallelai: three echoes")
    assert [(r["message"], r["percentage"]) for r in reports] == [
        ("done 1/3", 33),
        ("done 2/3", 66),
        ("done 3/3", 100),
    ]
    assert (end["kind"], end["message"]) == ("end", "succeeded")
    # Without a workdir in the body, the run works in the editor's workspace.
    assert found.workdir == str(workspace)


async def test_runs_tasks_and_templates_round_trip_as_the_daemon_has_them(session: Session) -> None:
    with anyio.fail_after(DEADLINE_S):
        started = await session.request(protocol.START_RUN, {"run": echo_run("hello")})
        run_id = started["id"]
        await session.run_events_until_finished(run_id)
        runs = await session.request(protocol.LIST_RUNS, {"state": "succeeded", "limit": 5})
        detail = await session.request(protocol.GET_RUN, {"runId": run_id})
        task_id = detail["tasks"][0]["id"]
        task = await session.request(protocol.GET_TASK, {"runId": run_id, "taskId": task_id})
        templates = await session.request(protocol.LIST_TEMPLATES, {})
        by_command = await session.command("parallelai.server.getRun", {"runId": run_id})
        listed_by_command = await session.command("parallelai.server.listRuns", {})
        templates_by_command = await session.command("parallelai.server.listTemplates", {})
        connection = await session.request(protocol.DAEMON, {})

    assert [run["id"] for run in runs] == [run_id]
    assert detail["run"]["state"] == "succeeded"
    assert [(t["state"], t["attempts"]) for t in detail["tasks"]] == [("succeeded", 1)]
    assert task["result"]["text"] == "echo: hello"
    assert task["log"], "a task detail carries the task's events"
    assert "code_review" in {template["name"] for template in templates}
    assert by_command == detail
    assert [run["id"] for run in listed_by_command] == [run_id]
    assert templates_by_command == templates
    assert connection["url"].startswith("http://127.0.0.1:")
    assert connection["token"]
    assert connection["version"]


async def test_cancelling_a_slow_run_ends_it_cancelled(session: Session) -> None:
    with anyio.fail_after(DEADLINE_S):
        started = await session.request(protocol.START_RUN, {"run": echo_run("slow", "slower", latency=30)})
        run_id = started["id"]

        def running(inbox: Inbox) -> bool | None:
            return (
                any(
                    event["type"] == "task.state"
                    and event["state"] == "running"
                    and event["run_id"] == run_id
                    for event in inbox.of(protocol.RUN_EVENT)
                )
                or None
            )

        await session.inbox.wait_for(running)
        cancelled = await session.command("parallelai.server.cancelRun", {"runId": run_id})
        events = await session.run_events_until_finished(run_id)
        progress = await progress_end(session, f"parallelai/run/{run_id}")

    assert cancelled["state"] == "cancelled"
    assert events[-1]["state"] == "cancelled"
    assert progress[-1]["message"] == "cancelled"


async def test_watching_a_run_replays_it_from_its_start_and_unwatched_runs_stay_quiet(
    session: Session,
) -> None:
    with anyio.fail_after(DEADLINE_S):
        quiet = await session.request(
            protocol.START_RUN, {"run": echo_run("a", "b"), "watch": False, "progress": False}
        )
        run_id = quiet["id"]
        # Watched only now, maybe after it finished: the events still come from the first.
        assert await session.request(protocol.WATCH_RUN, {"runId": run_id}) is None
        events = await session.run_events_until_finished(run_id)
        assert await session.request(protocol.UNWATCH_RUN, {"runId": run_id}) is None

    assert events[0]["type"] == "run.created"
    assert [event["seq"] for event in events] == sorted({event["seq"] for event in events})
    assert session.inbox.of(types.WINDOW_WORK_DONE_PROGRESS_CREATE) == []


async def test_caller_mistakes_are_invalid_params_errors_and_the_server_carries_on(session: Session) -> None:
    mistakes: list[tuple[str, dict[str, Any]]] = [
        (protocol.GET_RUN, {"runId": "r-nope"}),
        (protocol.GET_TASK, {"runId": "r-nope", "taskId": "t1"}),
        (protocol.CANCEL_RUN, {"runId": "r-nope"}),
        (protocol.RETRY_RUN, {"runId": "r-nope"}),
        (protocol.WATCH_RUN, {"runId": "r-nope"}),
        (protocol.GET_RUN, {}),
        (protocol.LIST_RUNS, {"state": "sleeping"}),
        (protocol.START_RUN, {"run": {"prompts": ["a"], "template": "code_review"}}),
        (protocol.START_RUN, {"run": {"prompts": ["a"], "colour": "red"}}),
        (protocol.START_RUN, {"run": {"template": "no_such_template"}}),
        (protocol.START_RUN, {"run": echo_run("a"), "wacth": True}),
    ]
    errors: list[JsonRpcException] = []
    with anyio.fail_after(DEADLINE_S):
        for method, params in mistakes:
            with pytest.raises(JsonRpcException) as raised:
                await session.request(method, params)
            errors.append(raised.value)
        with pytest.raises(JsonRpcException) as by_command:
            await session.command("parallelai.server.openTaskResult", {"runId": "r-nope", "taskId": "t1"})
        assert await session.request(protocol.LIST_RUNS, {}) == []

    assert all(isinstance(error, JsonRpcInvalidParams) for error in [*errors, by_command.value])
    assert "r-nope" in errors[0].message
    assert errors[0].data == {"type": "RunNotFoundError"}
    assert "runId" in errors[5].message
    assert "wacth" in errors[-1].message


def run_ends(inbox: Inbox, run_id: str, at_least: int = 1) -> list[dict[str, Any]] | None:
    """The run's `run.finished` events received so far, once there are `at_least` of them."""
    ends = [
        event
        for event in inbox.of(protocol.RUN_EVENT)
        if event["run_id"] == run_id and event["type"] == "run.finished"
    ]
    return ends if len(ends) >= at_least else None


async def next_end(daemon: DaemonClient, run_id: str, after: int = 0) -> RunFinished:
    async with aclosing(daemon.events(run_id, after=after)) as events:
        async for event in events:
            if isinstance(event, RunFinished):
                return event
    raise AssertionError("the event stream ended")


async def test_retrying_a_failed_run_runs_its_failed_tasks_again_and_streams_the_retry_to_its_end(
    session: Session,
) -> None:
    with anyio.fail_after(DEADLINE_S):
        started = await session.request(protocol.START_RUN, {"run": FAILED_DAG, "progress": False})
        run_id = started["id"]
        [failed] = await session.inbox.wait_for(lambda inbox: run_ends(inbox, run_id))
        retried = await session.request(protocol.RETRY_RUN, {"runId": run_id})
        _, *ends = await session.inbox.wait_for(lambda inbox: run_ends(inbox, run_id, at_least=2))
        again = await session.command("parallelai.server.retryRun", {"runId": run_id})
        detail = await session.request(protocol.GET_RUN, {"runId": run_id})

    assert failed["state"] == "failed"
    # The failed task and the one skipped because of it run again; the success is kept.
    assert retried["retried"] == 2
    assert [end["state"] for end in ends] == ["succeeded"]
    retry_events = [
        event
        for event in session.inbox.of(protocol.RUN_EVENT)
        if event["run_id"] == run_id and event["seq"] > failed["seq"]
    ]
    assert retry_events[0]["type"] == "run.started"
    succeeded = {
        e["task_id"] for e in retry_events if e["type"] == "task.state" and e["state"] == "succeeded"
    }
    assert succeeded == {"bad", "after"}
    assert again["retried"] == 0  # nothing failed any more: nothing changes
    assert detail["run"]["state"] == "succeeded"
    assert {task["id"]: task["attempts"] for task in detail["tasks"]} == {"ok": 1, "bad": 2, "after": 1}


async def test_watching_a_retried_run_replays_it_to_its_last_end_not_its_first(session: Session) -> None:
    with anyio.fail_after(DEADLINE_S):
        quiet = {"watch": False, "progress": False}
        run_id = (await session.request(protocol.START_RUN, {"run": FAILED_DAG, **quiet}))["id"]
        async with await DaemonClient.connect() as daemon:
            first = await next_end(daemon, run_id)
            await session.request(protocol.RETRY_RUN, {"runId": run_id, "watch": False})
            last = await next_end(daemon, run_id, after=first.seq)
        assert await session.request(protocol.WATCH_RUN, {"runId": run_id}) is None
        # Replayed from its start: both ends arrive (a follower that stopped at the first never sends the second).
        ends = await session.inbox.wait_for(lambda inbox: run_ends(inbox, run_id, at_least=2))

    assert (first.state, last.state) == ("failed", "succeeded")
    assert [(end["seq"], end["state"]) for end in ends] == [(first.seq, "failed"), (last.seq, "succeeded")]


async def test_the_server_exits_when_its_editor_goes_away_and_the_run_goes_on(session: Session) -> None:
    process = session.client._server
    assert process is not None
    assert process.stdin is not None
    with anyio.fail_after(DEADLINE_S):
        started = await session.request(protocol.START_RUN, {"run": echo_run("long", latency=30)})
        process.stdin.close()  # the editor crashed: no shutdown, no exit
        status = await process.wait()
        async with await DaemonClient.connect() as daemon:
            run = await daemon.run(started["id"])

    assert status == 1  # LSP: ended without a shutdown request
    assert run.state == "running"


async def test_cancelling_a_runs_progress_in_the_editor_cancels_the_run(session: Session) -> None:
    with anyio.fail_after(DEADLINE_S):
        started = await session.request(
            protocol.START_RUN, {"run": echo_run("slow", latency=30), "workDoneToken": "my-token"}
        )

        def begun(inbox: Inbox) -> bool | None:
            return bool(progress_values(inbox, "my-token")) or None

        await session.inbox.wait_for(begun)
        session.client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token="my-token"))
        events = await session.run_events_until_finished(started["id"])
        progress = await progress_end(session, "my-token")

    assert events[-1]["state"] == "cancelled"
    assert progress[-1]["message"] == "cancelled"
    # The client brought its own token, so the server asked for none.
    assert session.inbox.of(types.WINDOW_WORK_DONE_PROGRESS_CREATE) == []

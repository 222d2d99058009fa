"""Tool semantics through the SDK's in-memory client: runs, progress, pages, cancelling, mistakes."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from parallelai.orchestration.service import OrchestrationService
from tests.mcp._support import DEADLINE_S, call_error, call_ok, first_success

pytestmark = pytest.mark.anyio

TOOLS = {
    "start_run",
    "run_status",
    "list_runs",
    "get_results",
    "cancel_run",
    "retry_run",
    "list_templates",
    "describe_template",
    "list_engines",
    "get_diff",
}


async def test_the_server_offers_every_tool_with_described_parameters_and_an_output_schema(
    client: Client,
) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description, tool.name
        assert not tool.description.startswith(" "), tool.name
        assert tool.output_schema is not None, tool.name
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name} has no description"


async def test_start_run_with_wait_reports_progress_until_every_task_is_done(client: Client) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    with anyio.fail_after(DEADLINE_S):
        result = await client.call_tool(
            "start_run",
            {"tasks": ["review a.py", "review b.py", "review c.py"], "wait": True, "name": "three"},
            progress_callback=on_progress,
        )
    assert not result.is_error
    status = result.structured_content
    assert status is not None
    assert status["state"] == "succeeded"
    assert (status["done"], status["total"]) == (3, 3)
    assert status["name"] == "three"
    assert seen[-1] == (3, 3, "3/3 tasks done")
    assert {total for _, total, _ in seen} == {3}
    done = [progress for progress, _, _ in seen]
    assert done == sorted(set(done)), "progress must rise with every notification"


async def test_progress_counts_each_task_as_it_finishes_while_the_others_still_run(
    client: Client, service: OrchestrationService
) -> None:
    seen: list[tuple[float, float | None, str | None]] = []
    one_done = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))
        if progress == 1:
            one_done.set()

    async def stop_the_slow_task_once_the_fast_one_is_counted() -> None:
        await one_done.wait()
        (run,) = await service.list_runs()
        await service.cancel(run.id)

    tasks = [{"prompt": "fast"}, {"prompt": "slow", "engine_options": {"hang": True}}]
    with anyio.fail_after(DEADLINE_S):
        async with anyio.create_task_group() as group:
            group.start_soon(stop_the_slow_task_once_the_fast_one_is_counted)
            result = await client.call_tool(
                "start_run", {"tasks": tasks, "wait": True}, progress_callback=on_progress
            )
    assert result.structured_content is not None
    assert result.structured_content["state"] == "cancelled"
    assert (1, 2, "1/2 tasks done") in seen
    assert seen[-1][:2] == (2, 2)


async def test_start_run_without_wait_returns_at_once_and_run_status_can_wait(
    client: Client, service: OrchestrationService
) -> None:
    with anyio.fail_after(DEADLINE_S):
        started = await call_ok(
            client, "start_run", {"tasks": ["slow one"], "engine_options": {"latency": 0.2}}
        )
        assert started["state"] in {"pending", "running"}
        assert "run_status" in started["next_step"]
        finished = await call_ok(client, "run_status", {"run_id": started["run_id"], "wait": True})
    assert finished["state"] == "succeeded"
    assert not service.is_active(started["run_id"])


async def test_task_objects_with_depends_on_run_as_a_dag_and_see_their_dependencies_output(
    client: Client,
) -> None:
    tasks: list[Any] = [
        {"id": "find", "prompt": "list the modules"},
        {"id": "sum", "prompt": "summarise: {{ output }}", "depends_on": ["find"]},
    ]
    with anyio.fail_after(DEADLINE_S):
        status = await call_ok(client, "start_run", {"tasks": tasks, "wait": True})
        page = await call_ok(client, "get_results", {"run_id": status["run_id"]})
    assert status["strategy"] == "dag"
    texts = {task["task_id"]: task["text"] for task in page["tasks"]}
    assert texts["sum"] == "echo: summarise: echo: list the modules"


async def test_get_results_pages_through_every_task_in_order(client: Client) -> None:
    prompts = [f"file {n}" for n in range(5)]
    with anyio.fail_after(DEADLINE_S):
        run_id = (await call_ok(client, "start_run", {"tasks": prompts, "wait": True}))["run_id"]
        seen: list[str] = []
        offsets: list[int] = []
        offset: int | None = 0
        while offset is not None:
            offsets.append(offset)
            page = await call_ok(client, "get_results", {"run_id": run_id, "offset": offset, "limit": 2})
            assert page["total"] == 5
            seen += [task["text"] for task in page["tasks"]]
            offset = page["next_offset"]
    assert offsets == [0, 2, 4]
    assert seen == [f"echo: {prompt}" for prompt in prompts]


async def test_get_results_filters_by_state_and_cuts_long_answers(client: Client) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = (
            await call_ok(
                client,
                "start_run",
                {"tasks": ["x" * 50], "wait": True},
            )
        )["run_id"]
        everything = await call_ok(client, "get_results", {"run_id": run_id, "max_chars": 10})
    first = everything["tasks"][0]
    assert (first["text"], first["truncated"]) == ("echo: xxxx", True)

    with anyio.fail_after(DEADLINE_S):
        failing = await call_ok(
            client,
            "start_run",
            {
                "tasks": ["a", "b"],
                "engine_options": {"fail_attempts": 9, "failure_kind": "auth"},
                "wait": True,
            },
        )
        failed = await call_ok(client, "get_results", {"run_id": failing["run_id"], "state": "failed"})
    assert failing["state"] == "failed"
    assert failed["total"] == 2
    assert all("simulated auth failure" in (task["error"] or "") for task in failed["tasks"])


async def test_cancel_run_stops_a_running_run_and_keeps_it_listed(
    client: Client, service: OrchestrationService
) -> None:
    with anyio.fail_after(DEADLINE_S):
        started = await call_ok(
            client, "start_run", {"tasks": ["hang", "hang too"], "engine_options": {"hang": True}}
        )
        cancelled = await call_ok(client, "cancel_run", {"run_id": started["run_id"]})
        runs = await call_ok(client, "list_runs", {"state": "cancelled"})
    assert cancelled["state"] == "cancelled"
    assert cancelled["counts"] == {"cancelled": 2}
    assert [run["run_id"] for run in runs["runs"]] == [started["run_id"]]
    assert not service.is_active(started["run_id"])


async def test_retry_run_reruns_the_failed_tasks_and_says_when_there_is_nothing_to_retry(
    client: Client,
) -> None:
    with anyio.fail_after(DEADLINE_S):
        failing = await call_ok(
            client,
            "start_run",
            {
                "tasks": ["a", "b"],
                "engine_options": {"fail_attempts": 1, "failure_kind": "auth"},
                "wait": True,
            },
        )
        retried = await call_ok(client, "retry_run", {"run_id": failing["run_id"], "wait": True})
        again = await call_ok(client, "retry_run", {"run_id": failing["run_id"]})
        unknown = await call_error(client, "retry_run", {"run_id": failing["run_id"], "task_ids": ["zz"]})
    assert failing["state"] == "failed"
    assert "retry_run" in failing["next_step"]
    assert retried["state"] == "succeeded"
    assert retried["counts"] == {"succeeded": 2}
    assert again == retried  # nothing left to retry: the run is returned as it is
    assert "'zz'" in unknown


async def test_cancelling_a_waiting_run_status_call_stops_the_wait_but_not_the_run(
    client: Client, service: OrchestrationService
) -> None:
    waiting = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        waiting.set()

    with anyio.fail_after(DEADLINE_S):
        started = await call_ok(
            client, "start_run", {"tasks": ["never ends"], "engine_options": {"hang": True}}
        )
        run_id = started["run_id"]

        async def wait_for_it() -> None:
            await client.call_tool(
                "run_status", {"run_id": run_id, "wait": True}, progress_callback=on_progress
            )

        async with anyio.create_task_group() as group:
            group.start_soon(wait_for_it)
            await waiting.wait()
            group.cancel_scope.cancel()
        # The in-process client runs the handler in the calling task: it has ended by now.
        assert service.is_active(run_id)
        status = await call_ok(client, "run_status", {"run_id": run_id})
        assert status["state"] == "running"
        await call_ok(client, "cancel_run", {"run_id": run_id})


async def test_run_status_with_max_wait_returns_the_status_so_far(client: Client) -> None:
    with anyio.fail_after(DEADLINE_S):
        started = await call_ok(client, "start_run", {"tasks": ["hang"], "engine_options": {"hang": True}})
        status = await call_ok(
            client, "run_status", {"run_id": started["run_id"], "wait": True, "max_wait_s": 0.05}
        )
        await call_ok(client, "cancel_run", {"run_id": started["run_id"]})
    assert status["state"] == "running"
    assert status["done"] == 0


async def test_list_engines_reports_echo_as_available(client: Client) -> None:
    engines = {engine["name"]: engine for engine in (await call_ok(client, "list_engines"))["engines"]}
    assert engines["echo"]["available"] is True


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("run_status", {"run_id": "r-nope"}, "unknown run 'r-nope'; the most recent runs are: "),
        ("get_results", {"run_id": "r-nope"}, "call list_runs"),
        ("cancel_run", {"run_id": "r-nope"}, "unknown run 'r-nope'"),
        ("start_run", {"tasks": ["x"], "engine": "ecko"}, "did you mean 'echo'?); known engines: "),
        ("start_run", {}, "nothing to run: give "),
        ("start_run", {"tasks": []}, "`tasks` is empty"),
        ("start_run", {"tasks": ["x"], "template": "review"}, "not `tasks` and `template`"),
        ("start_run", {"tasks": ["x"], "timeout_s": 0}, "timeout"),
        (
            "start_run",
            {"template": "code_review", "tasks_file": "jobs.yaml"},
            "give one source of work, not `tasks_file` and `template`",
        ),
        ("start_run", {"tasks": ["x"], "parallel": 0}, "parallel"),
        ("start_run", {"tasks": ["x"], "strategy": "mapreduce"}, "'dag' or 'adaptive'"),
        ("start_run", {"tasks": [{"prompt": "x", "wat": 1}]}, "wat"),
        ("start_run", {"tasks": [{"prompt": "x", "depends_on": ["ghost"]}]}, "ghost"),
        (
            "start_run",
            {
                "tasks": [{"id": "a", "prompt": "x"}, {"prompt": "y", "depends_on": ["a"]}],
                "strategy": "parallel",
            },
            "use strategy: dag",
        ),
        ("start_run", {"tasks": [{"prompt": "x", "files": ["../../etc/passwd"]}]}, "outside the workspace"),
        ("start_run", {"tasks": ["x"], "engine_options": {"latency": "soon"}}, "engine 'echo': latency"),
        (
            "start_run",
            {"template": "review"},
            "unknown template 'review' (did you mean 'code_review'?); available templates: code_review, ",
        ),
        ("start_run", {"template": "code_review", "params": {"checklist": ["vibes"]}}, "security"),
        ("start_run", {"template": "../../etc/passwd.yaml"}, "unknown template"),
        ("start_run", {"tasks": ["x"], "params": {"a": 1}}, "`params` only applies with `template`"),
        ("describe_template", {"name": "review"}, "available templates: code_review, "),
        ("get_results", {"run_id": "r", "state": "weird"}, "'succeeded'"),
        ("list_runs", {"state": "done"}, "'running'"),
    ],
)
async def test_caller_mistakes_are_tool_errors_that_name_the_valid_choices(
    client: Client, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    await call_ok(client, "start_run", {"tasks": ["so that one run exists"], "wait": True})
    with anyio.fail_after(DEADLINE_S):
        message = await call_error(client, tool, arguments)
    assert expected in message


async def test_a_mistake_starts_nothing(client: Client, service: OrchestrationService) -> None:
    await call_error(client, "start_run", {"tasks": ["x"], "engine": "nope"})
    assert await service.list_runs() == []


async def test_run_status_joining_a_run_midway_starts_from_the_tasks_already_done(
    client: Client, service: OrchestrationService
) -> None:
    seen: list[tuple[float, float | None, str | None]] = []
    tasks = [{"prompt": "fast"}, {"prompt": "slow", "engine_options": {"hang": True}}]

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))
        await service.cancel(run_id)

    with anyio.fail_after(DEADLINE_S):
        run_id = (await call_ok(client, "start_run", {"tasks": tasks}))["run_id"]
        await first_success(service, run_id)
        result = await client.call_tool(
            "run_status", {"run_id": run_id, "wait": True}, progress_callback=on_progress
        )
    assert result.structured_content is not None
    assert result.structured_content["state"] == "cancelled"
    assert seen[0] == (1, 2, "1/2 tasks done")
    assert seen[-1][:2] == (2, 2)

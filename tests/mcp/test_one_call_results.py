"""One call is enough: start_run (wait) gives back the answers, failures and findings, within a budget;
every tool's result is structured content valid against its outputSchema, plus readable text;
a client that gives up on a waiting start_run cancels the run; `tasks_file` runs a tasks file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import anyio
import jsonschema
import pytest
from mcp import Client, MCPError
from mcp_types import CallToolResult, TextContent

from parallelai.models import RunState
from parallelai.orchestration.service import OrchestrationService
from parallelai.server.mcp.progress import ABANDONED_REASON
from parallelai.server.mcp.results import DEFAULT_RESULT_CHARS
from parallelai.server.mcp.server import build_mcp_server
from tests.mcp._support import DEADLINE_S, call_error, call_ok, first_success

pytestmark = pytest.mark.anyio

BROKEN = {"id": "broken", "prompt": "x", "engine_options": {"fail_attempts": 9, "failure_kind": "auth"}}


def text_block(result: CallToolResult) -> str:
    (block,) = result.content
    assert isinstance(block, TextContent)
    return block.text


async def review(client: Client, workdir: Path, **arguments: Any) -> dict[str, Any]:
    return await call_ok(
        client,
        "start_run",
        {
            "template": "code_review",
            "params": {"files": ["*.py"]},
            "workdir": str(workdir),
            "wait": True,
            **arguments,
        },
    )


# -- the answers, in one call ---------------------------------------------------------------


async def test_start_run_with_wait_returns_every_answer_and_says_there_is_nothing_more(
    client: Client,
) -> None:
    with anyio.fail_after(DEADLINE_S):
        result = await call_ok(client, "start_run", {"tasks": ["review a.py", "review b.py"], "wait": True})
    assert result["state"] == "succeeded"
    assert [(task["task_id"], task["text"], task["truncated"]) for task in result["tasks"]] == [
        ("t001", "echo: review a.py", False),
        ("t002", "echo: review b.py", False),
    ]
    assert (result["next_offset"], result["truncated"], result["results_note"]) == (None, False, None)
    assert result["failed"] == []
    assert result["findings"] is None  # not a review: no findings asked for
    assert "get_results" not in result["next_step"]
    assert "nothing more to read" in result["next_step"]


async def test_failed_tasks_are_listed_with_their_errors_even_when_the_answers_do_not_fit(
    client: Client,
) -> None:
    long_ones = [{"prompt": f"long {n}", "engine_options": {"output_size": 5000}} for n in range(10)]
    with anyio.fail_after(DEADLINE_S):
        result = await call_ok(
            client, "start_run", {"tasks": [*long_ones, BROKEN], "wait": True, "max_result_chars": 2000}
        )
    assert result["state"] == "failed"
    assert result["failed"] == [{"task_id": "broken", "error": "simulated auth failure"}]
    shown = [task["task_id"] for task in result["tasks"]]
    assert "broken" not in shown  # its answer did not fit, but `failed` still says what went wrong
    assert result["next_offset"] == len(shown)
    assert f"get_results(run_id={result['run_id']!r}, offset={len(shown)})" in result["results_note"]
    assert "retry_run" in result["next_step"]


async def test_the_default_budget_bounds_the_result_and_the_cursor_leads_get_results_to_the_rest(
    client: Client,
) -> None:
    prompts = [f"part {n}" for n in range(60)]  # 60 answers of 2,000 characters: 120,000 in all
    with anyio.fail_after(DEADLINE_S):
        result = await call_ok(
            client, "start_run", {"tasks": prompts, "engine_options": {"output_size": 2000}, "wait": True}
        )
        next_offset = result["next_offset"]
        rest = await call_ok(
            client, "get_results", {"run_id": result["run_id"], "offset": next_offset, "limit": 200}
        )
    shown = result["tasks"]
    assert 0 < len(shown) < len(prompts)
    assert sum(len(task["text"]) for task in shown) <= DEFAULT_RESULT_CHARS
    assert len(json.dumps(result)) < 1.5 * DEFAULT_RESULT_CHARS  # the whole result, not only the texts
    assert all(task["truncated"] for task in shown)
    assert result["truncated"] is True
    assert next_offset == len(shown)
    assert f"offset={next_offset})" in result["next_step"]
    ids = [task["task_id"] for task in shown] + [task["task_id"] for task in rest["tasks"]]
    assert ids == [f"t{n:03d}" for n in range(1, 61)]


async def test_short_answers_stay_whole_and_a_long_one_gets_the_rest_of_the_budget(client: Client) -> None:
    tasks: list[Any] = [f"short {n}" for n in range(9)]
    tasks.append({"id": "long", "prompt": "long", "engine_options": {"output_size": 50_000}})
    with anyio.fail_after(DEADLINE_S):
        result = await call_ok(client, "start_run", {"tasks": tasks, "wait": True})
        larger = await call_ok(
            client, "start_run", {"tasks": tasks, "wait": True, "max_result_chars": 60_000}
        )
    answers = {task["task_id"]: task for task in result["tasks"]}
    assert all(not answers[f"t{n:03d}"]["truncated"] for n in range(1, 10))
    assert answers["t001"]["text"] == "echo: short 0"
    long = answers["long"]
    assert long["truncated"] is True
    assert 10_000 < len(long["text"]) < DEFAULT_RESULT_CHARS
    assert result["next_offset"] is None
    assert "1 answer cut" in result["results_note"]

    (whole,) = [task for task in larger["tasks"] if task["task_id"] == "long"]
    assert (len(whole["text"]), whole["truncated"], larger["results_note"]) == (50_000, False, None)


async def test_a_review_gives_its_findings_by_severity_and_each_task_its_structured_output(
    client: Client, tmp_path: Path
) -> None:
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("def f():\n    return 1\n")
    with anyio.fail_after(DEADLINE_S):
        result = await review(client, tmp_path)
        page = await call_ok(client, "get_results", {"run_id": result["run_id"]})
    assert [(finding["severity"], finding["file"]) for finding in result["findings"]] == [
        ("low", "a.py"),
        ("low", "b.py"),
    ]
    assert result["findings_by_severity"] == {"critical": 0, "high": 0, "medium": 0, "low": 2, "info": 0}
    for task in [*result["tasks"], *page["tasks"]]:
        assert task["structured"]["findings"][0]["title"] == "Module lacks a docstring saying what it owns"
        assert task["text"] == ""  # the raw JSON answer would only repeat `structured`


async def test_a_structured_output_that_does_not_fit_is_given_as_cut_json_text(
    client: Client, tmp_path: Path
) -> None:
    # Long file names make long answers: the review's example output names its file three times.
    for letter in "ab":
        (tmp_path / f"{letter * 150}.py").write_text("x = 1\n")
    with anyio.fail_after(DEADLINE_S):
        result = await review(client, tmp_path, max_result_chars=1000)
        page = await call_ok(client, "get_results", {"run_id": result["run_id"]})
    whole = {task["task_id"]: task["structured"] for task in page["tasks"]}
    assert len(result["tasks"]) == 2
    for task in result["tasks"]:
        encoded = json.dumps(whole[task["task_id"]], ensure_ascii=False, separators=(",", ":"))
        assert (task["structured"], task["truncated"]) == (None, True)
        assert 0 < len(task["text"]) < len(encoded)
        assert encoded.startswith(task["text"])
    assert result["findings"] == []
    assert result["findings_by_severity"]["low"] == 2
    assert "2 findings not listed" in result["results_note"]


async def test_run_status_without_wait_gives_the_answers_of_the_tasks_finished_so_far(
    client: Client, service: OrchestrationService
) -> None:
    tasks = [{"prompt": "fast"}, {"prompt": "slow", "engine_options": {"hang": True}}]
    with anyio.fail_after(DEADLINE_S):
        run_id = (await call_ok(client, "start_run", {"tasks": tasks}))["run_id"]
        await first_success(service, run_id)
        status = await call_ok(client, "run_status", {"run_id": run_id})
        await call_ok(client, "cancel_run", {"run_id": run_id})
    assert status["state"] == "running"
    assert [(task["task_id"], task["text"]) for task in status["tasks"]] == [("t001", "echo: fast")]
    assert status["next_offset"] is None
    assert "still running" in status["next_step"]


async def test_retry_run_with_wait_returns_the_answers_of_the_tasks_it_ran_again(client: Client) -> None:
    failing_options = {"fail_attempts": 1, "failure_kind": "auth"}
    with anyio.fail_after(DEADLINE_S):
        failing = await call_ok(
            client, "start_run", {"tasks": ["a", "b"], "engine_options": failing_options, "wait": True}
        )
        retried = await call_ok(client, "retry_run", {"run_id": failing["run_id"], "wait": True})
    assert [failure["task_id"] for failure in failing["failed"]] == ["t001", "t002"]
    assert retried["failed"] == []
    assert [task["text"] for task in retried["tasks"]] == ["echo: a", "echo: b"]


# -- structured content and text --------------------------------------------------------------


async def test_every_tool_result_is_valid_against_its_output_schema_and_carries_text(
    client: Client, tmp_path: Path
) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    schemas: dict[str, dict[str, Any]] = {}
    for tool in (await client.list_tools()).tools:
        assert tool.output_schema is not None, tool.name
        schemas[tool.name] = tool.output_schema
    results_schemas = {
        json.dumps(schemas[name], sort_keys=True) for name in ("start_run", "run_status", "retry_run")
    }
    assert len(results_schemas) == 1  # one result model for the three
    assert {"tasks", "failed", "findings", "next_offset", "truncated"} <= set(
        schemas["start_run"]["properties"]
    )

    with anyio.fail_after(DEADLINE_S):
        waited = await client.call_tool("start_run", {"tasks": ["a", BROKEN], "wait": True})
        run_id = (waited.structured_content or {})["run_id"]
        calls: list[tuple[str, CallToolResult]] = [
            ("start_run", waited),
            (
                "start_run",
                await client.call_tool(
                    "start_run",
                    {"template": "code_review", "params": {"files": ["*.py"]}, "workdir": str(tmp_path)},
                ),
            ),
            ("run_status", await client.call_tool("run_status", {"run_id": run_id, "wait": True})),
            ("retry_run", await client.call_tool("retry_run", {"run_id": run_id, "wait": True})),
            ("get_results", await client.call_tool("get_results", {"run_id": run_id})),
            ("list_runs", await client.call_tool("list_runs", {})),
            ("cancel_run", await client.call_tool("cancel_run", {"run_id": run_id})),
            ("list_templates", await client.call_tool("list_templates", {})),
            ("describe_template", await client.call_tool("describe_template", {"name": "code_review"})),
            ("list_engines", await client.call_tool("list_engines", {})),
        ]
    for name, result in calls:
        assert not result.is_error, name
        assert result.structured_content is not None, name
        jsonschema.validate(result.structured_content, schemas[name])
        assert text_block(result), name
    for _, result in calls[:7]:  # the run tools read out, rather than dump their JSON
        with pytest.raises(json.JSONDecodeError):
            json.loads(text_block(result))


async def test_the_text_block_reads_out_the_state_the_failures_and_each_answer(client: Client) -> None:
    with anyio.fail_after(DEADLINE_S):
        result = await client.call_tool(
            "start_run", {"tasks": ["a", "b\nsecond line", BROKEN], "wait": True, "name": "mixed"}
        )
    structured = result.structured_content
    assert structured is not None
    lines = text_block(result).splitlines()
    assert lines[0].startswith(f"Run {structured['run_id']} (mixed): failed, 3/3 tasks done (")
    assert lines[lines.index("Failed (1):") + 1] == "- broken: simulated auth failure"
    assert "- t001 [succeeded]: echo: a" in lines
    assert lines[lines.index("- t002 [succeeded]: echo: b") + 1] == "    second line"
    assert "- broken [failed]: error: simulated auth failure" in lines
    assert lines[-1] == f"Next: {structured['next_step']}"


async def test_the_text_block_of_a_review_lists_the_findings_by_severity(
    client: Client, tmp_path: Path
) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    with anyio.fail_after(DEADLINE_S):
        result = await client.call_tool(
            "start_run",
            {
                "template": "code_review",
                "params": {"files": ["*.py"]},
                "workdir": str(tmp_path),
                "wait": True,
            },
        )
    lines = text_block(result).splitlines()
    assert "Findings (1: 1 low):" in lines
    assert any(line.startswith("- [low] a.py:1 Module lacks a docstring") for line in lines)


# -- a client that gives up cancels the run -----------------------------------------------------


@pytest.mark.parametrize(
    "mode",
    [
        # JSON-RPC over memory streams: cancelling the call sends `notifications/cancelled`, and the
        # server cancels the request's handler.
        "legacy",
        # The SDK's in-process path: the handler runs in the caller's task and is cancelled with it.
        "auto",
    ],
)
async def test_cancelling_a_waiting_start_run_call_cancels_the_run_it_started(
    service: OrchestrationService, mode: Literal["legacy", "auto"]
) -> None:
    waiting = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        waiting.set()

    async def start_and_wait(session: Client) -> None:
        await session.call_tool(
            "start_run",
            {"tasks": ["never ends", "nor this"], "engine_options": {"hang": True}, "wait": True},
            progress_callback=on_progress,
        )

    with anyio.fail_after(DEADLINE_S):
        async with Client(build_mcp_server(service), mode=mode) as session:
            async with anyio.create_task_group() as group:
                group.start_soon(start_and_wait, session)
                await waiting.wait()
                group.cancel_scope.cancel()
            (run,) = await service.list_runs()
            finished = await service.wait(run.id)
    assert finished.state is RunState.CANCELLED
    assert {record.reason for record in await service.tasks(run.id)} == {ABANDONED_REASON}


async def test_a_session_that_goes_away_cancels_the_run_its_waiting_start_run_started(
    service: OrchestrationService,
) -> None:
    waiting = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        waiting.set()

    async def start_and_wait(session: Client) -> None:
        arguments = {"tasks": ["never ends"], "engine_options": {"hang": True}, "wait": True}
        with pytest.raises(MCPError, match="Connection closed"):
            await session.call_tool("start_run", arguments, progress_callback=on_progress)

    with anyio.fail_after(DEADLINE_S):
        # A session over streams (as stdio and HTTP are): closing it ends the server's session.
        async with (
            anyio.create_task_group() as group,
            Client(build_mcp_server(service), mode="legacy") as session,
        ):
            group.start_soon(start_and_wait, session)
            await waiting.wait()
        (run,) = await service.list_runs()
        finished = await service.wait(run.id)
    assert finished.state is RunState.CANCELLED


# -- tasks_file -----------------------------------------------------------------------------------

JOBS = """\
name: from a file
tasks:
  - {id: one, prompt: first}
  - {id: two, prompt: "then {{ output }}", depends_on: [one]}
"""


async def test_start_run_runs_a_tasks_file_relative_to_workdir_with_the_call_s_run_options(
    client: Client, tmp_path: Path
) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    arguments = {
        "tasks_file": "jobs.yaml",
        "workdir": str(tmp_path),
        "engine_options": {"reply": "done: {prompt}"},
        "wait": True,
    }
    with anyio.fail_after(DEADLINE_S):
        result = await call_ok(client, "start_run", arguments)
    assert (result["name"], result["strategy"], result["state"]) == ("from a file", "dag", "succeeded")
    assert {task["task_id"]: task["text"] for task in result["tasks"]} == {
        "one": "done: first",
        "two": "done: then done: first",
    }


async def test_a_relative_tasks_file_without_workdir_is_found_from_the_server_s_directory(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    monkeypatch.chdir(tmp_path)
    with anyio.fail_after(DEADLINE_S):
        result = await call_ok(client, "start_run", {"tasks_file": "jobs.yaml", "wait": True, "name": "mine"})
    assert result["name"] == "mine"  # the call's options win over the file's
    assert [task["text"] for task in result["tasks"]] == ["echo: first", "echo: then echo: first"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "jobs.yaml: file not found"),
        ("tasks:\n  - {prompt: [unclosed\n", "jobs.yaml:3:1: not valid YAML"),
        ("tasks:\n  - {prompt: x, wat: 1}\n", "jobs.yaml:2: tasks.0.wat: unknown field"),
    ],
)
async def test_a_tasks_file_that_cannot_be_run_is_a_tool_error_that_says_what_and_where(
    client: Client, service: OrchestrationService, tmp_path: Path, content: str | None, expected: str
) -> None:
    if content is not None:
        (tmp_path / "jobs.yaml").write_text(content)
    message = await call_error(client, "start_run", {"tasks_file": "jobs.yaml", "workdir": str(tmp_path)})
    assert f"{tmp_path}/{expected}" in message
    assert await service.list_runs() == []

"""An isolated run's changes through MCP: each task's diffstat in the run tools' results, the total,
and get_diff's patches — a real repository, the `command` engine editing files, the in-memory client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import TextResourceContents

from tests.mcp._support import DEADLINE_S, call_error, call_ok, error_text
from tests.workspaces._repo import TWO_TEXT_FILES, apply_patch, committed_repo

pytestmark = pytest.mark.anyio

# The command engine runs the first line of each task's prompt as a shell command.
EVAL = 'eval "$(printf %s "$PROMPT" | head -n 1)"'
TASKS = [
    {"id": "edit-a", "prompt": "sed -i 's/a line 1/A EDITED/' a.txt", "files": ["a.txt"]},
    {"id": "big", "prompt": "seq 1 400 > big.txt"},
    {"id": "stray", "prompt": "printf 'not mine\\n' > b.txt", "files": ["a.txt"]},
    {"id": "broken", "prompt": "exit 3"},
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return committed_repo(tmp_path / "repo", TWO_TEXT_FILES)


async def start_isolated(client: Client, repo: Path) -> dict[str, Any]:
    arguments = {
        "tasks": TASKS,
        "engine": "command",
        "engine_options": {"shell": EVAL},
        "isolation": True,
        "workdir": str(repo),
        "wait": True,
    }
    with anyio.fail_after(DEADLINE_S):
        return await call_ok(client, "start_run", arguments)


@pytest.fixture
async def results(client: Client, repo: Path) -> dict[str, Any]:
    return await start_isolated(client, repo)


async def test_each_task_s_result_carries_its_diffstat_and_the_run_its_total(results: dict[str, Any]) -> None:
    run_id = results["run_id"]
    tasks = {task["task_id"]: task for task in results["tasks"]}

    assert tasks["edit-a"]["change"] == {
        "outcome": "merged",
        "summary": "changed 1 file, +1 -1",
        "insertions": 1,
        "deletions": 1,
        "files": [{"path": "a.txt", "insertions": 1, "deletions": 1, "binary": False}],
        "files_left_out": 0,
    }
    assert tasks["big"]["change"]["summary"] == "changed 1 file, +400 -0"
    assert (tasks["stray"]["change"]["outcome"], tasks["stray"]["state"]) == ("outside_scope", "failed")
    assert tasks["broken"]["change"] is None  # its agent failed: nothing was captured
    changes = results["changes"]
    assert changes["branch"] == f"parallelai/{run_id}"
    assert changes["summary"] == "2 tasks merged: changed 2 files, +401 -1"
    assert (changes["files_changed"], changes["insertions"], changes["deletions"]) == (2, 401, 1)
    assert changes["not_merged"] == ["stray"]
    assert f"parallelai apply {run_id}" in changes["next_step"]
    assert "get_diff" in changes["next_step"]


async def test_the_readable_text_says_what_each_task_changed(client: Client, repo: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        arguments = {
            "tasks": TASKS[:2],
            "engine": "command",
            "engine_options": {"shell": EVAL},
            "isolation": True,
            "workdir": str(repo),
            "wait": True,
        }
        result = await client.call_tool("start_run", arguments)
        assert result.structured_content is not None
        run_id = result.structured_content["run_id"]

    text = error_text(result.content)
    assert "changed 1 file, +1 -1 (merged): a.txt +1 -1" in text
    assert "changed 1 file, +400 -0 (merged): big.txt +400 -0" in text
    assert f"Changes on parallelai/{run_id}: 2 tasks merged: changed 2 files, +401 -1." in text


async def test_get_results_and_the_run_resource_carry_the_changes_too(
    client: Client, results: dict[str, Any]
) -> None:
    run_id = results["run_id"]
    with anyio.fail_after(DEADLINE_S):
        page = await call_ok(client, "get_results", {"run_id": run_id})
        resource = await client.read_resource(f"parallelai://runs/{run_id}")

    assert [task["change"] and task["change"]["outcome"] for task in page["tasks"]] == [
        "merged",
        "merged",
        "outside_scope",
        None,
    ]
    assert page["changes"] == results["changes"]
    (content,) = resource.contents
    assert isinstance(content, TextResourceContents)
    report = json.loads(content.text)
    assert report["changes"] == results["changes"]
    assert report["tasks"][0]["change"]["files"][0]["path"] == "a.txt"


async def test_get_diff_gives_the_branch_s_patch_which_applies_on_the_base(
    client: Client, repo: Path, results: dict[str, Any]
) -> None:
    with anyio.fail_after(DEADLINE_S):
        result = await client.call_tool("get_diff", {"run_id": results["run_id"]})
    patch = result.structured_content
    assert patch is not None
    assert not result.is_error

    assert (patch["task_id"], patch["outcome"], patch["truncated"], patch["note"]) == (
        None,
        None,
        False,
        None,
    )
    assert patch["summary"] == "2 tasks merged: changed 2 files, +401 -1"
    assert "+A EDITED\n" in patch["patch"]
    assert "+400\n" in patch["patch"]
    assert "not mine" not in patch["patch"]
    assert patch["chars"] == len(patch["patch"])
    apply_patch(patch["patch"].encode(), repo, "--check")
    assert patch["patch"] in error_text(result.content)  # the text block shows the patch as it is


async def test_get_diff_of_a_task_gives_its_change_merged_or_not(
    client: Client, repo: Path, results: dict[str, Any]
) -> None:
    with anyio.fail_after(DEADLINE_S):
        stray = await call_ok(client, "get_diff", {"run_id": results["run_id"], "task_id": "stray"})

    assert (stray["task_id"], stray["outcome"], stray["summary"]) == (
        "stray",
        "outside_scope",
        "changed 1 file, +1 -1",
    )
    assert "+not mine\n" in stray["patch"]
    assert "a.txt" not in stray["patch"]
    apply_patch(stray["patch"].encode(), repo, "--check")


async def test_a_long_patch_is_cut_at_a_line_end_and_says_so(client: Client, results: dict[str, Any]) -> None:
    run_id = results["run_id"]
    with anyio.fail_after(DEADLINE_S):
        cut = await call_ok(client, "get_diff", {"run_id": run_id, "task_id": "big", "max_chars": 1000})

    assert cut["truncated"] is True
    assert len(cut["patch"]) <= 1000 < cut["chars"]
    assert cut["patch"].endswith("\n")
    assert f"cut at {len(cut['patch'])} of {cut['chars']} characters" in cut["note"]
    assert f"parallelai diff {run_id} big" in cut["note"]


async def test_get_diff_refuses_what_has_no_patch_saying_why(client: Client, results: dict[str, Any]) -> None:
    run_id = results["run_id"]
    with anyio.fail_after(DEADLINE_S):
        plain = await call_ok(client, "start_run", {"tasks": ["one"], "engine": "echo", "wait": True})
        not_isolated = await call_error(client, "get_diff", {"run_id": plain["run_id"]})
        no_change = await call_error(client, "get_diff", {"run_id": run_id, "task_id": "broken"})
        no_task = await call_error(client, "get_diff", {"run_id": run_id, "task_id": "nope"})
        no_run = await call_error(client, "get_diff", {"run_id": "r-nope"})

    assert "did not run with isolation" in not_isolated
    assert "'broken'" in no_change
    assert "no captured change" in no_change
    assert "has no task 'nope'" in no_task
    assert "unknown run 'r-nope'" in no_run
    assert plain["changes"] is None
    assert [task["change"] for task in plain["tasks"]] == [None]


async def test_get_diff_is_listed_as_a_read_only_tool(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    get_diff = tools["get_diff"]
    assert get_diff.annotations is not None
    assert get_diff.annotations.read_only_hint
    assert set(get_diff.input_schema["properties"]) == {"run_id", "task_id", "max_chars"}
    assert get_diff.output_schema is not None

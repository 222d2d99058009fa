"""An isolated run's changes over HTTP: the diffstat listing, the branch's patch and each task's,
from a real daemon app over a real repository, with the `command` engine editing files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import DaemonInfo
from parallelai.errors import InputError, RunNotFoundError
from parallelai.models import RunState
from parallelai.wire import RunChangesOut
from tests.server._support import DEADLINE_S, Harness, echo_run, parse, running_app
from tests.workspaces._repo import TWO_TEXT_FILES, apply_patch, committed_repo, git

pytestmark = pytest.mark.anyio

PATCH_TYPE = "text/x-diff; charset=utf-8"
# The command engine runs the first line of each task's prompt as a shell command (the engine adds
# the task's files to the prompt after it).
EVAL = 'eval "$(printf %s "$PROMPT" | head -n 1)"'
TASKS = [
    {"id": "edit-a", "prompt": "sed -i 's/a line 1/A EDITED/' a.txt", "files": ["a.txt"]},
    {"id": "add-bin", "prompt": "printf 'x\\000\\001\\002y' > assets/data.bin"},  # no scope
    {"id": "stray", "prompt": "printf 'not mine\\n' > b.txt", "files": ["a.txt"]},
    {"id": "broken", "prompt": "exit 3"},
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return committed_repo(tmp_path / "repo", {**TWO_TEXT_FILES, "assets/README": "binary assets\n"})


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_app(tmp_path / "db.sqlite") as harness:
        yield harness


async def finished_run(daemon: Harness, body: dict[str, Any]) -> str:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.post("/v1/runs", json=body)
        assert response.status_code == 201, response.text
        run_id: str = response.json()["id"]
        summary = await daemon.service.wait(run_id)
    assert summary.state.is_final, summary
    return run_id


@pytest.fixture
async def isolated(daemon: Harness, repo: Path) -> str:
    body = {
        "engine": "command",
        "engine_options": {"shell": EVAL},
        "isolation": True,
        "workdir": str(repo),
        "retries": 0,
        "tasks": TASKS,
    }
    return await finished_run(daemon, body)


async def get(daemon: Harness, path: str) -> httpx.Response:
    with anyio.fail_after(DEADLINE_S):
        return await daemon.http.get(path)


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    detail = response.json()["error"]
    return response.status_code, detail["code"], detail["message"]


async def test_changes_list_each_captured_change_with_its_outcome_commit_and_diffstat(
    daemon: Harness, repo: Path, isolated: str
) -> None:
    response = await get(daemon, f"/v1/runs/{isolated}/changes")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"run_id", "branch", "base", "tasks"}
    assert (body["run_id"], body["branch"]) == (isolated, f"parallelai/{isolated}")
    assert body["base"] == git(repo, "rev-parse", "HEAD")
    tasks = {task["task_id"]: task for task in body["tasks"]}
    assert [task["task_id"] for task in body["tasks"]] == ["edit-a", "add-bin", "stray"]  # task order
    assert tasks["edit-a"] == {
        "task_id": "edit-a",
        "outcome": "merged",
        "commit": tasks["edit-a"]["commit"],
        "insertions": 1,
        "deletions": 1,
        "files": [{"path": "a.txt", "insertions": 1, "deletions": 1, "binary": False}],
    }
    branch_log = git(repo, "log", "--format=%H", f"parallelai/{isolated}")
    assert tasks["edit-a"]["commit"] in branch_log.splitlines()
    assert tasks["add-bin"]["outcome"] == "merged"
    assert tasks["add-bin"]["files"] == [
        {"path": "assets/data.bin", "insertions": 0, "deletions": 0, "binary": True}
    ]
    assert (tasks["stray"]["outcome"], tasks["stray"]["commit"]) == ("outside_scope", None)
    assert [file["path"] for file in tasks["stray"]["files"]] == ["b.txt"]
    parse(response, RunChangesOut)  # the model the OpenAPI document declares


async def test_the_run_diff_is_the_branch_s_patch_and_applies_on_the_base(
    daemon: Harness, repo: Path, isolated: str
) -> None:
    response = await get(daemon, f"/v1/runs/{isolated}/diff")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == PATCH_TYPE
    patch = response.content
    assert b"-a line 1\n+A EDITED\n" in patch
    assert b"GIT binary patch" in patch  # data.bin, bytes as git wrote them
    assert b"b.txt" not in patch  # the out-of-scope change was not merged
    apply_patch(patch, repo, "--check")
    apply_patch(patch, repo)
    assert (repo / "assets" / "data.bin").read_bytes() == b"x\x00\x01\x02y"


async def test_a_task_diff_is_its_captured_patch_merged_or_not(
    daemon: Harness, repo: Path, isolated: str
) -> None:
    merged = await get(daemon, f"/v1/runs/{isolated}/tasks/edit-a/diff")
    stray = await get(daemon, f"/v1/runs/{isolated}/tasks/stray/diff")

    assert (merged.status_code, merged.headers["content-type"]) == (200, PATCH_TYPE)
    assert b"+A EDITED\n" in merged.content
    assert b"data.bin" not in merged.content
    apply_patch(merged.content, repo, "--check")
    assert stray.status_code == 200
    assert b"+not mine\n" in stray.content
    apply_patch(stray.content, repo, "--check")


async def test_a_task_that_captured_no_change_or_does_not_exist_is_a_404(
    daemon: Harness, isolated: str
) -> None:
    no_change = await get(daemon, f"/v1/runs/{isolated}/tasks/broken/diff")
    unknown = await get(daemon, f"/v1/runs/{isolated}/tasks/nope/diff")

    status, code, message = error_of(no_change)
    assert (status, code) == (404, "change_not_found")
    assert "'broken'" in message
    assert "no captured change" in message
    assert error_of(unknown)[:2] == (404, "task_not_found")


@pytest.mark.parametrize("path", ["changes", "diff", "tasks/t001/diff"])
async def test_an_unknown_run_is_a_404(daemon: Harness, path: str) -> None:
    response = await get(daemon, f"/v1/runs/r-nope/{path}")

    assert error_of(response)[:2] == (404, "run_not_found")


@pytest.mark.parametrize("path", ["changes", "diff", "tasks/t001/diff"])
async def test_a_run_without_isolation_is_a_409_that_says_so(daemon: Harness, path: str) -> None:
    run_id = await finished_run(daemon, echo_run(1))

    response = await get(daemon, f"/v1/runs/{run_id}/{path}")

    status, code, message = error_of(response)
    assert (status, code) == (409, "not_isolated")
    assert "did not run with isolation" in message


async def test_the_diff_endpoints_are_documented_as_patches(daemon: Harness) -> None:
    document = (await get(daemon, "/v1/openapi.json")).json()

    for path in ("/v1/runs/{run_id}/diff", "/v1/runs/{run_id}/tasks/{task_id}/diff"):
        operation = document["paths"][path]["get"]
        assert set(operation["responses"]["200"]["content"]) == {"text/x-diff"}
        assert {"404", "409"} <= set(operation["responses"])
    changes = document["paths"]["/v1/runs/{run_id}/changes"]["get"]["responses"]["200"]
    assert changes["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RunChangesOut"}


async def test_the_client_reads_changes_and_patches_and_raises_what_the_service_would(
    daemon: Harness, repo: Path, isolated: str
) -> None:
    info = DaemonInfo(url=daemon.url, token=daemon.token, pid=0, store="", started_at=0.0)
    plain = await finished_run(daemon, echo_run(1))
    async with DaemonClient(info) as client:
        with anyio.fail_after(DEADLINE_S):
            changes = await client.changes(isolated)
            run_patch = await client.run_diff(isolated)
            task_patch = await client.task_diff(isolated, "add-bin")
            with pytest.raises(InputError, match="did not run with isolation"):
                await client.changes(plain)
            with pytest.raises(InputError, match="no captured change"):
                await client.task_diff(isolated, "broken")
            with pytest.raises(RunNotFoundError):
                await client.run_diff("r-nope")

    assert [task.task_id for task in changes.tasks] == ["edit-a", "add-bin", "stray"]
    assert run_patch == (await get(daemon, f"/v1/runs/{isolated}/diff")).content
    assert b"GIT binary patch" in task_patch
    apply_patch(task_patch, repo, "--check")
    assert (await daemon.service.summary(isolated)).state is RunState.FAILED  # stray and broken failed

"""The dashboard's changes of an isolated run, in a real headless Chromium against a real daemon.

Runs are made with the `command` engine editing files in a real git repository, with isolation on
(docs/isolation.md): the run view shows a Changes summary (files, +/-, the branch, the `apply`
command), a task's detail its outcome, diffstat and patch, coloured line by line, as text (never as
HTML), cut after 400 lines until "Show all". A run without isolation looks as before. A
screenshot of a task's change is saved to test-artifacts/dashboard-diff.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from playwright.async_api import Page, expect

from parallelai.wire import DashboardLink, RunCreated
from tests.server._support import Harness, echo_run, parse
from tests.server.test_dashboard_browser import ARTIFACTS, DEADLINE_S
from tests.support.chromium import CHROMIUM
from tests.workspaces._repo import git

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

if not CHROMIUM.exists():
    pytest.skip("Chromium is not installed: run `bash scripts/setup.sh --browser`", allow_module_level=True)

LONG = 1000  # lines of a file one task writes: more than the 400 a patch shows before "Show all"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    for name in ("a.txt", "b.txt"):
        (root / name).write_text(f"{name} line 1\n{name} line 2\n")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "first")
    return root


def edit(task_id: str, shell: str, files: list[str] | None = None) -> dict[str, Any]:
    """A task whose agent is `shell`, run in the task's worktree."""
    task: dict[str, Any] = {
        "id": task_id,
        "prompt": task_id,
        "options": {"retries": 0, "engine_options": {"shell": shell}},
    }
    if files:
        task["files"] = files
    return task


async def _isolated_run(daemon: Harness, repo: Path, tasks: list[dict[str, Any]]) -> str:
    body = {"engine": "command", "workdir": str(repo), "isolation": True, "parallel": 4, "tasks": tasks}
    run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
    await daemon.service.wait(run_id)
    return run_id


async def _open_run(daemon: Harness, page: Page, run_id: str) -> None:
    link = parse(await daemon.http.post("/v1/dashboard/link"), DashboardLink)
    await page.goto(link.url)  # sets the cookie
    await page.goto(f"{daemon.url}/#/runs/{run_id}")
    await expect(page.locator("#run-state")).not_to_have_text("")


async def test_an_isolated_run_shows_its_changes_and_each_task_s_patch(
    daemon: Harness, page: Page, repo: Path
) -> None:
    tasks = [
        edit("edit-a", "sed -i 's/a.txt line 1/A EDITED/' a.txt", ["a.txt"]),
        edit("new-c", "printf 'one\\ntwo\\n' > c.txt"),
    ]
    with anyio.fail_after(DEADLINE_S):
        run_id = await _isolated_run(daemon, repo, tasks)
        await _open_run(daemon, page, run_id)
        await expect(page.locator("#run-state")).to_have_text("succeeded")

        await expect(page.locator("#changes")).to_be_visible()
        await expect(page.locator("#ch-branch")).to_have_text(f"parallelai/{run_id}")
        await expect(page.locator("#ch-apply")).to_have_text(f"parallelai apply {run_id}")
        await expect(page.locator("#ch-summary")).to_have_text("2 files changed, +3 \u22121")
        await expect(page.locator("#ch-outcomes")).to_have_text("2 tasks merged")
        await expect(page.locator("#ch-files tr")).to_have_count(2)
        await expect(page.locator('#ch-files tr[data-path="a.txt"]')).to_contain_text("+1")
        await expect(page.locator("#ch-patch")).to_have_attribute("href", f"/v1/runs/{run_id}/diff")

        await page.locator('#grid .cell[data-task="edit-a"]').click()
        await expect(page.locator("#task-change")).to_be_visible()
        await expect(page.locator("#tc-id")).to_have_text("edit-a")
        await expect(page.locator("#tc-outcome")).to_have_text("merged")
        await expect(page.locator("#tc-summary")).to_have_text("1 file changed, +1 \u22121")
        await expect(page.locator("#tc-diff .file")).to_have_text(["a.txt"])
        await expect(page.locator("#tc-diff .hunk")).to_have_count(1)
        await expect(page.locator("#tc-diff .del")).to_have_text(["-a.txt line 1"])
        await expect(page.locator("#tc-diff .add")).to_have_text(["+A EDITED"])
        await expect(page.locator("#tc-diff .ctx")).to_have_text([" a.txt line 2"])
        await expect(page.locator("#tc-more")).to_be_hidden()
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-diff.png"), full_page=True)

        await page.locator('#grid .cell[data-task="new-c"]').click()
        await expect(page.locator("#tc-id")).to_have_text("new-c")
        await expect(page.locator("#tc-diff .meta").first).to_have_text("new file mode 100644")
        await expect(page.locator("#tc-diff .add")).to_have_text(["+one", "+two"])


async def test_a_long_patch_is_cut_until_show_all_and_its_text_never_becomes_html(
    daemon: Harness, page: Page, repo: Path
) -> None:
    shell = f'for i in $(seq {LONG}); do echo "<b>line $i</b><img src=x>"; done > long.html'
    with anyio.fail_after(DEADLINE_S):
        run_id = await _isolated_run(daemon, repo, [edit("long", shell)])
        await _open_run(daemon, page, run_id)
        await page.locator('#grid .cell[data-task="long"]').click()

        await expect(page.locator("#tc-more")).to_be_visible()
        await expect(page.locator("#tc-diff > div")).to_have_count(400)
        await expect(page.locator("#tc-more-text")).to_contain_text("showing 400 of")
        await expect(page.locator("#tc-diff .add").first).to_have_text("+<b>line 1</b><img src=x>")
        await page.click("#tc-show-all")
        await expect(page.locator("#tc-diff .add")).to_have_count(LONG)
        await expect(page.locator("#tc-diff .add").last).to_have_text(f"+<b>line {LONG}</b><img src=x>")
        await expect(page.locator("#tc-more")).to_be_hidden()
        await expect(page.locator("#tc-diff b, #tc-diff img")).to_have_count(0)


async def test_a_change_outside_the_task_s_scope_shows_as_out_of_scope(
    daemon: Harness, page: Page, repo: Path
) -> None:
    tasks = [
        edit("stray", "printf 'B\\n' > b.txt", ["a.txt"]),
        edit("fine", "printf 'A\\n' > a.txt", ["a.txt"]),
    ]
    with anyio.fail_after(DEADLINE_S):
        run_id = await _isolated_run(daemon, repo, tasks)
        await _open_run(daemon, page, run_id)
        await expect(page.locator("#ch-outcomes")).to_have_text("1 task merged \u00b7 1 task out of scope")
        await expect(page.locator("#ch-files tr")).to_have_count(1)  # the branch has only what merged

        await page.locator('#grid .cell[data-task="stray"]').click()
        await expect(page.locator("#d-state")).to_have_text("failed")
        await expect(page.locator("#tc-outcome")).to_have_text("out of scope")
        await expect(page.locator("#tc-diff .file")).to_have_text(["b.txt"])
        await expect(page.locator("#tc-diff .add")).to_have_text(["+B"])


async def test_a_run_without_isolation_has_no_changes_section(daemon: Harness, page: Page) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=echo_run(2)), RunCreated).id
        await daemon.service.wait(run_id)
        link = parse(await daemon.http.post("/v1/dashboard/link"), DashboardLink)
        await page.goto(link.url)
        async with page.expect_response(lambda response: response.url.endswith("/changes")) as answer:
            await page.goto(f"{daemon.url}/#/runs/{run_id}")
        assert (await answer.value).status in (404, 409)
        await page.locator("#grid .cell").first.click()
        await expect(page.locator("#d-result")).to_have_text("echo: prompt 0")
        await expect(page.locator("#changes")).to_be_hidden()
        await expect(page.locator("#task-change")).to_be_hidden()

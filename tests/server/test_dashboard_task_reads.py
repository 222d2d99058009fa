"""The run page reads its task table in little pieces, in a real headless Chromium against a real
daemon: the first screen of rows shows before the rest has arrived (the stat cards keep the run's
own numbers meanwhile), and afterwards it asks only for the tasks changed since its last read, so
a task that finishes gets its duration in its row and the cards match the API.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest
from playwright.async_api import Page, Request, Route, expect

from parallelai.models import TaskState
from parallelai.wire import RunCreated, RunOut
from tests.orchestration._support import wait_for_state
from tests.server._browser import log_in
from tests.server._support import Harness, echo_run, parse
from tests.support.chromium import CHROMIUM

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

if not CHROMIUM.exists():
    pytest.skip("Chromium is not installed: run `bash scripts/setup.sh --browser`", allow_module_level=True)

DEADLINE_S = 120.0
FIRST_ROWS = 200  # the page's first read of the table (FIRST_ROWS in dashboard.html)


def _row(page: Page, task_id: str) -> Any:
    return page.locator(f'#tt-rows .tt-row[data-task="{task_id}"]')


async def test_the_first_rows_show_while_the_rest_load_and_the_cards_keep_the_run_s_numbers(
    daemon: Harness, page: Page
) -> None:
    tasks = 300
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=echo_run(tasks)), RunCreated).id
        await daemon.service.wait(run_id)
        first_id = (await daemon.service.tasks(run_id))[0].task.id
        await log_in(daemon, page)
        rest_asked = anyio.Event()
        release = anyio.Event()

        async def hold(route: Route) -> None:
            rest_asked.set()
            await release.wait()
            await route.continue_()

        await page.route(re.compile(rf"/tasks\?offset={FIRST_ROWS}$"), hold)
        await page.goto(f"{daemon.url}/#/runs/{run_id}")
        await rest_asked.wait()

        count = page.locator("#tt-count")
        await expect(count).to_have_text(f"{FIRST_ROWS} of {tasks} tasks, loading\u2026")
        await expect(page.locator("#tt-rows .tt-row").first).to_have_attribute("data-task", first_id)
        await expect(page.locator("#s-done")).to_have_text(f"{tasks}/{tasks}")  # the run's, not 200's

        release.set()
        await expect(count).to_have_text(f"{tasks} tasks")
        await expect(page.locator("#s-done")).to_have_text(f"{tasks}/{tasks}")


async def test_a_task_that_finishes_gets_its_row_from_a_read_of_only_what_changed(
    daemon: Harness, page: Page
) -> None:
    body = {
        "engine": "echo",
        "parallel": 1,
        "work": {
            "strategy": "parallel",
            "tasks": [
                {"id": "hang", "prompt": "wait", "options": {"engine_options": {"hang": True}}},
                {"id": "quick", "prompt": "go", "options": {"engine_options": {"latency": 0.2}}},
            ],
        },
    }
    reads: list[str] = []

    def note(request: Request) -> None:
        if "/tasks" in request.url and request.method == "GET":
            reads.append(request.url)

    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
        await wait_for_state(daemon.service, run_id, "hang", TaskState.RUNNING)
        await log_in(daemon, page)
        page.on("request", note)
        await page.goto(f"{daemon.url}/#/runs/{run_id}")
        await expect(_row(page, "hang")).to_have_attribute("data-state", "running")
        await expect(_row(page, "quick")).to_have_attribute("data-state", "pending")

        await daemon.http.post(f"/v1/runs/{run_id}/tasks/hang/cancel")  # then `quick` runs and ends
        await daemon.service.wait(run_id)
        run = parse(await daemon.http.get(f"/v1/runs/{run_id}"), RunOut)

        quick = _row(page, "quick")
        await expect(quick).to_have_attribute("data-state", "succeeded")
        # A finished task's duration is in no event: only a read of the tasks brings it.
        await expect(quick.locator(":scope > span").nth(4)).to_have_text(re.compile(r"^\d+\.\ds$"))
        await expect(quick.locator(":scope > span").nth(3)).to_have_text("1")
        await expect(_row(page, "hang")).to_have_attribute("data-state", "cancelled")
        counts = run.counts
        done = sum(counts[s] for s in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED))
        await expect(page.locator("#s-done")).to_have_text(f"{done}/{run.total}")
        await expect(page.locator("#s-running")).to_have_text(str(counts[TaskState.RUNNING]))
        await expect(page.locator("#s-failed")).to_have_text(str(counts[TaskState.FAILED]))

    assert any("changed_after=" in url for url in reads), reads
    # The whole table is read once (in pages); every later read asks only for changes.
    assert all(re.search(r"/tasks\?(limit|offset|changed_after)=", url) for url in reads), reads

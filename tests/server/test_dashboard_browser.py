"""The web dashboard in a real headless Chromium (Debian's package, driven by Playwright).

It logs in through the one-time link, follows a run of 200 echo tasks live until all succeeded,
shows a task's output on click, cancels a run with its button and retries a failed one with its
button (cookie-authenticated, same-origin POSTs). A task waiting out a retry backoff shows as
retrying, never as running; tasks cut off by their process stopping show as interrupted, and
Resume runs them again. A screenshot of the finished run is saved to test-artifacts/dashboard.png.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from playwright.async_api import Page, async_playwright, expect

from parallelai.models import RunLimits, RunSpec, RunState, TaskState
from parallelai.orchestration.service import OrchestrationService
from parallelai.wire import RunCreated
from tests.orchestration._support import echo_task, wait_for_state
from tests.server._browser import WAIT_MS, log_in
from tests.server._support import RETRYING_AND_BUSY, Harness, echo_run, parse
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
DEADLINE_S = 60.0
TASKS = 200

if not CHROMIUM.exists():
    pytest.skip("Chromium is not installed: run `bash scripts/setup.sh --browser`", allow_module_level=True)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 860})
            tab = await context.new_page()
            tab.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            yield tab
        finally:
            await browser.close()


async def test_the_dashboard_follows_a_run_of_200_tasks_live_until_all_succeeded(
    daemon: Harness, page: Page
) -> None:
    with anyio.fail_after(DEADLINE_S):
        await log_in(daemon, page)
        body = echo_run(TASKS, latency=0.08) | {"name": "dashboard demo"}
        run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id

        await page.locator(f'tr[data-run="{run_id}"]').click()
        # Locator assertions poll inside the page without eval, so the page's strict CSP stays on.
        await expect(page.locator("#grid .cell")).to_have_count(TASKS)
        await expect(page.locator('#grid .cell[data-state="running"]').first).to_be_visible()
        await expect(page.locator('#grid .cell[data-state="succeeded"]')).to_have_count(TASKS)
        await expect(page.locator("#run-state")).to_have_text("succeeded")
        await expect(page.locator("#s-done")).to_have_text(f"{TASKS}/{TASKS}")
        await expect(page.locator("#cancel")).to_be_disabled()

        await page.locator('#grid .cell[data-task="t001"]').click()
        await expect(page.locator("#d-result")).to_have_text("echo: prompt 0")
        await expect(page.locator("#d-state")).to_have_text("succeeded")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

        await page.click("a.back")
        await expect(page.locator(f'tr[data-run="{run_id}"] .badge')).to_have_text("succeeded")


async def test_the_cancel_button_stops_a_running_run(daemon: Harness, page: Page) -> None:
    with anyio.fail_after(DEADLINE_S):
        await log_in(daemon, page)
        body = echo_run(4) | {"engines": {"echo": {"hang": True}}}
        run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
        await page.goto(f"{daemon.url}/#/runs/{run_id}")
        await expect(page.locator('#grid .cell[data-state="running"]')).to_have_count(4)
        await expect(page.locator("#cancel")).to_be_enabled()

        await page.click("#cancel")
        await expect(page.locator("#run-state")).to_have_text("cancelled")
        await expect(page.locator('#grid .cell[data-state="cancelled"]')).to_have_count(4)
        # A finished run is not resumed but retried: Resume is off, Retry offers the 4 tasks.
        await expect(page.locator("#resume")).to_be_disabled()
        await expect(page.locator("#retry")).to_be_visible()
    run = await daemon.service.summary(run_id)
    assert run.state.value == "cancelled"


def _task(task_id: str, **engine_options: Any) -> dict[str, Any]:
    return {
        "id": task_id,
        "prompt": f"do {task_id}",
        "options": {"retries": 0, "engine_options": engine_options},
    }


async def test_a_task_waiting_out_a_retry_backoff_shows_as_retrying_and_is_not_counted_running(
    daemon: Harness, page: Page
) -> None:
    with anyio.fail_after(DEADLINE_S):
        await log_in(daemon, page)
        run_id = parse(await daemon.http.post("/v1/runs", json=RETRYING_AND_BUSY), RunCreated).id
        await page.goto(f"{daemon.url}/#/runs/{run_id}")

        await expect(page.locator('#grid .cell[data-task="flaky"]')).to_have_attribute(
            "data-state", "retrying"
        )
        await expect(page.locator('#grid .cell[data-task="busy"]')).to_have_attribute("data-state", "running")
        await expect(page.locator("#s-retrying")).to_have_text("1")
        await expect(page.locator("#s-running")).to_have_text("1")
        await expect(page.locator("#c-cc")).to_have_text("1")
        await expect(page.locator("#legend")).to_contain_text("retrying")
        await expect(page.locator("#run-executor")).to_have_text(re.compile(r"^executed by .*pid \d+"))

        await page.locator('#grid .cell[data-task="flaky"]').click()
        await expect(page.locator("#d-state")).to_have_text("retrying")
        await expect(page.locator("#d-retry-at")).to_have_text(re.compile(r"^in \d+m \d+s$"))
        first = page.locator('#d-attempts li[data-attempt="1"]')
        await expect(first.locator(".badge")).to_have_text("failed")
        await expect(first).to_contain_text("simulated transient failure")


async def test_the_retry_button_runs_the_failed_tasks_of_a_finished_run_again_until_it_succeeds(
    daemon: Harness, page: Page
) -> None:
    # Two tasks fail their first attempt for good (an execution error is not retried within the run).
    broken: dict[str, Any] = {"fail_attempts": 1, "failure_kind": "execution"}
    work = {
        "strategy": "parallel",
        "tasks": [_task("ok1"), _task("ok2"), _task("bad1", **broken), _task("bad2", **broken)],
    }
    with anyio.fail_after(DEADLINE_S):
        await log_in(daemon, page)
        run_id = parse(await daemon.http.post("/v1/runs", json={"work": work}), RunCreated).id
        await daemon.service.wait(run_id)
        await page.goto(f"{daemon.url}/#/runs/{run_id}")
        await expect(page.locator("#run-state")).to_have_text("failed")
        await expect(page.locator('#grid .cell[data-state="failed"]')).to_have_count(2)
        await expect(page.locator("#failures li")).to_have_count(2)
        await expect(page.locator("#resume")).to_be_disabled()
        await expect(page.locator("#run-executor")).to_be_hidden()

        await page.click("#retry")
        await expect(page.locator("#run-state")).to_have_text("succeeded")
        await expect(page.locator('#grid .cell[data-state="succeeded"]')).to_have_count(4)
        await expect(page.locator("#s-failed")).to_have_text("0")
        await expect(page.locator("#failures li")).to_have_count(0)
        await expect(page.locator("#retry")).to_be_hidden()

        await page.locator('#grid .cell[data-task="bad1"]').click()
        await expect(page.locator("#d-attempts li .badge")).to_have_text(["failed", "succeeded"])
    summary = await daemon.service.summary(run_id)
    assert summary.state is RunState.SUCCEEDED
    assert summary.counts[TaskState.SUCCEEDED] == 4


async def test_tasks_cut_off_by_their_process_stopping_show_as_interrupted_and_resume_runs_them_again(
    daemon: Harness, page: Page, tmp_path: Path
) -> None:
    with anyio.fail_after(DEADLINE_S):
        # Another process on the same store (a `parallelai run`) stops while its tasks are running.
        async with OrchestrationService.open(tmp_path / "db.sqlite") as other:
            spec = RunSpec(tasks=[echo_task(f"t{i}", hang=True) for i in range(3)], limits=RunLimits())
            run_id = await other.submit(spec)
            for i in range(3):
                await wait_for_state(other, run_id, f"t{i}", TaskState.RUNNING)
        await log_in(daemon, page)
        await page.goto(f"{daemon.url}/#/runs/{run_id}")
        await expect(page.locator("#run-state")).to_have_text("interrupted")
        await expect(page.locator('#grid .cell[data-state="interrupted"]')).to_have_count(3)
        await expect(page.locator("#s-interrupted")).to_have_text("3")
        await expect(page.locator("#s-running")).to_have_text("0")
        await expect(page.locator("#retry")).to_be_hidden()
        await page.locator('#grid .cell[data-task="t0"]').click()
        await expect(page.locator("#d-attempts li .badge")).to_have_text(["interrupted"])

        await page.click("#resume")
        await expect(page.locator('#grid .cell[data-state="running"]')).to_have_count(3)
        await expect(page.locator("#s-interrupted")).to_have_text("0")
        await expect(page.locator("#run-state")).to_have_text("running")
        await expect(page.locator("#run-executor")).to_be_visible()


async def test_an_adaptive_run_shows_its_current_limit_per_engine_beside_running(
    daemon: Harness, page: Page
) -> None:
    with anyio.fail_after(DEADLINE_S):
        await log_in(daemon, page)
        body = echo_run(20, latency=0.01) | {"strategy": "adaptive", "parallel": 50}
        run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
        await daemon.service.wait(run_id)

        await page.locator(f'tr[data-run="{run_id}"]').click()
        await expect(page.locator("#run-state")).to_have_text("succeeded")
        await expect(page.locator("#c-limit")).to_be_visible()
        await expect(page.locator("#c-limits")).to_have_text(re.compile(r"^echo \d+$"))

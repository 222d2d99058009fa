"""The web dashboard in a real headless Chromium (Debian's package, driven by Playwright).

It logs in through the one-time link, follows a run of 200 echo tasks live until all succeeded,
shows a task's output on click, and cancels a run with its button (a cookie-authenticated,
same-origin POST). A screenshot of the finished run is saved to test-artifacts/dashboard.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from playwright.async_api import Page, async_playwright, expect

from parallelai.server.http.schemas import DashboardLink, RunCreated
from tests.server._support import Harness, echo_run, parse

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
DEADLINE_S = 60.0
WAIT_MS = 30_000
TASKS = 200
# Never let the browser reach out on its own (updates, metrics) or need a GPU or a sandbox here.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

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


async def _log_in(daemon: Harness, page: Page) -> None:
    link = parse(await daemon.http.post("/v1/dashboard/link"), DashboardLink)
    await page.goto(link.url)  # sets the cookie and lands on the runs list


async def test_the_dashboard_follows_a_run_of_200_tasks_live_until_all_succeeded(
    daemon: Harness, page: Page
) -> None:
    with anyio.fail_after(DEADLINE_S):
        await _log_in(daemon, page)
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
        await _log_in(daemon, page)
        body = echo_run(4) | {"engine_settings": {"echo": {"hang": True}}}
        run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
        await page.goto(f"{daemon.url}/#/runs/{run_id}")
        await expect(page.locator('#grid .cell[data-state="running"]')).to_have_count(4)
        await expect(page.locator("#cancel")).to_be_enabled()

        await page.click("#cancel")
        await expect(page.locator("#run-state")).to_have_text("cancelled")
        await expect(page.locator('#grid .cell[data-state="cancelled"]')).to_have_count(4)
        await expect(page.locator("#resume")).to_be_enabled()
    run = await daemon.service.summary(run_id)
    assert run.state.value == "cancelled"

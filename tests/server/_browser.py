"""A Chromium tab for the dashboard's browser tests that fails the test on any Content Security
Policy violation the page reports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import ConsoleMessage, Page, async_playwright, expect

from parallelai.wire import DashboardLink
from tests.server._support import Harness, parse
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS

WAIT_MS = 30_000  # how long Playwright waits for what a test expects on the page


async def log_in(daemon: Harness, page: Page) -> None:
    """Sign `page` in through a one-time link: it sets the session cookie and lands on the runs list."""
    link = parse(await daemon.http.post("/v1/dashboard/link"), DashboardLink)
    await page.goto(link.url)


@asynccontextmanager
async def csp_checked_tab() -> AsyncIterator[Page]:
    refused: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 1000})
            tab = await context.new_page()
            tab.on("console", watch)
            tab.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            yield tab
        finally:
            await browser.close()
    assert refused == []

"""The dashboard as a tool to work in, in a real headless Chromium against a real daemon.

A run of 1,000 echo tasks: its task table counts, filters by state and engine, searches, sorts and
holds only a window of rows in the DOM; the run page paints its real numbers first (never zeros
waiting for events) with money, tokens and durations rounded; the charts have time axes. A task's
detail lists its attempts with their times, and its buttons cancel a running task and retry a
failed one; the attempts' timeline opens the task of a bar. The runs list pages and filters by
state. A browser without a session gets the sign-in page, not a 401. Every test fails on a
Content Security Policy violation. Screenshots go to test-artifacts/dashboard-table.png,
dashboard-runs.png and dashboard-signin.png.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest
from playwright.async_api import Page, Route, expect

from parallelai.models import TaskState
from parallelai.wire import RunCreated, RunOut
from tests.orchestration._support import wait_for_state
from tests.server._browser import log_in
from tests.server._support import Harness, echo_run, parse
from tests.server.test_dashboard_browser import ARTIFACTS
from tests.support.chromium import CHROMIUM

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

if not CHROMIUM.exists():
    pytest.skip("Chromium is not installed: run `bash scripts/setup.sh --browser`", allow_module_level=True)

DEADLINE_S = 120.0
TASKS = 1000
WINDOW = 60  # the most table rows the page may hold at once: those in view plus a few spare
CLOCK = re.compile(r"\d\d:\d\d(:\d\d)?")
# A task whose first attempt fails for good (an execution error is not retried within the run).
BROKEN: dict[str, Any] = {"retries": 0, "engine_options": {"fail_attempts": 1, "failure_kind": "execution"}}

# Records every value the stat cards ever show, from the page's first parse on (a test hook
# injected by the browser driver, not by the page, so the page's CSP does not apply to it).
RECORD_STATS = """
window.__painted = [];
new MutationObserver(() => {
  for (const id of ["s-done", "s-running", "s-failed", "s-cost", "s-tokens", "s-elapsed"]) {
    const node = document.getElementById(id);
    if (node) window.__painted.push(id + "=" + node.textContent);
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


async def _finished_run(daemon: Harness, body: dict[str, Any]) -> RunOut:
    run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
    await daemon.service.wait(run_id)
    return parse(await daemon.http.get(f"/v1/runs/{run_id}"), RunOut)


def _big_run() -> dict[str, Any]:
    """1,000 tasks: every tenth fails for good, the last ten run on the command engine."""
    tasks: list[dict[str, Any]] = []
    for index in range(1, TASKS + 1):
        task: dict[str, Any] = {"id": f"t{index:04d}", "prompt": f"prompt {index}", "engine": "echo"}
        if index % 10 == 0:
            task["options"] = BROKEN
        if index > TASKS - 10:
            task |= {"engine": "command", "options": {"retries": 0, "engine_options": {"shell": "echo done"}}}
        tasks.append(task)
    return {
        "name": "table demo",
        "work": {"strategy": "parallel", "tasks": tasks},
        "engines": {"echo": {"cost_per_1k_tokens": 2.5}},
        "parallel": 32,
    }


def _money(usd: float) -> str:
    return f"${usd:,.2f}"


def _tokens(count: int) -> str:
    if count < 1000:
        return str(count)
    value = count / 1000
    return f"{value:.1f}".removesuffix(".0") + "k" if value < 100 else f"{value:.0f}k"


async def _rows(page: Page) -> int:
    return await page.locator("#tt-rows .tt-row").count()


async def test_a_1000_task_run_s_table_filters_searches_sorts_and_keeps_only_a_window_of_rows(
    daemon: Harness, page: Page
) -> None:
    with anyio.fail_after(DEADLINE_S):
        run = await _finished_run(daemon, _big_run())
        assert run.counts[TaskState.FAILED] == 99  # the command tasks succeed
        assert run.counts[TaskState.SUCCEEDED] == 901
        await log_in(daemon, page)
        await page.goto(f"{daemon.url}/#/runs/{run.id}")

        count = page.locator("#tt-count")
        await expect(count).to_have_text("1,000 tasks")
        await expect(page.locator("#tt-rows .tt-row").first).to_have_attribute("data-task", "t0001")
        assert 10 <= await _rows(page) <= WINDOW

        await page.select_option("#tt-state", "failed")
        await expect(count).to_have_text("99 of 1,000 tasks")
        await expect(page.locator('#tt-rows .tt-row:not([data-state="failed"])')).to_have_count(0)
        await expect(page.locator("#tt-rows .tt-row").first).to_have_attribute("data-task", "t0010")

        await page.select_option("#tt-state", "")
        await page.select_option("#tt-engine", "command")
        await expect(count).to_have_text("10 of 1,000 tasks")
        await page.select_option("#tt-engine", "")

        await page.fill("#tt-search", "t099")  # t0990 to t0999
        await expect(count).to_have_text("10 of 1,000 tasks")
        await page.fill("#tt-search", "simulated execution")  # the error's text
        await expect(count).to_have_text("99 of 1,000 tasks")
        await page.fill("#tt-search", "")
        await expect(count).to_have_text("1,000 tasks")

        first = page.locator("#tt-rows .tt-row").first
        await page.click('.tt-head button[data-sort="id"]')  # already by id: now descending
        await expect(first).to_have_attribute("data-task", "t1000")
        await page.click('.tt-head button[data-sort="state"]')  # succeeded before failed
        await expect(first).to_have_attribute("data-state", "succeeded")
        await page.click('.tt-head button[data-sort="state"]')
        await expect(first).to_have_attribute("data-state", "failed")
        await page.click('.tt-head button[data-sort="cost"]')  # a failed task cost nothing
        await expect(first).to_have_attribute("data-state", "failed")
        await page.click('.tt-head button[data-sort="cost"]')
        await expect(first).to_have_attribute("data-state", "succeeded")
        await expect(first.locator(":scope > span").nth(5)).to_have_text(re.compile(r"^\$0\.\d+$"))
        await page.click('.tt-head button[data-sort="duration"]')
        await expect(page.locator('.tt-head button[data-sort="duration"]')).to_have_attribute(
            "aria-sort", "ascending"
        )

        await page.click('.tt-head button[data-sort="id"]')
        await expect(first).to_have_attribute("data-task", "t0001")
        await page.locator("#tt-scroll").hover()
        await page.mouse.wheel(0, TASKS * 40)  # to the bottom
        last = page.locator('#tt-rows .tt-row[data-task="t1000"]')
        await expect(last).to_be_visible()
        await expect(page.locator('#tt-rows .tt-row[data-task="t0001"]')).to_have_count(0)
        assert await _rows(page) <= WINDOW

        await last.click()
        await expect(page.locator("#d-id")).to_have_text("t1000")
        await expect(page.locator("#d-state")).to_have_text("succeeded")
        await expect(page.locator("#d-facts")).to_contain_text("command")
        await expect(page.locator("#d-result")).to_contain_text("done")
        await page.keyboard.press("ArrowUp")  # the table has the focus: up selects the row above
        await expect(page.locator("#d-id")).to_have_text("t0999")
        await expect(page.locator('#tt-rows .tt-row[data-task="t0999"]')).to_have_class(
            re.compile("selected")
        )

        # The charts: a time axis with clock labels, throughput bars, cumulative cost.
        ticks = page.locator("#g-throughput text.tick")
        await expect(ticks.first).to_have_text(CLOCK)
        assert await page.locator("#g-throughput rect").count() > 0
        await expect(page.locator("#g-running path")).not_to_have_count(0)
        await expect(page.locator("#g-cost path")).to_have_count(1)
        await expect(page.locator("#g-cost-now")).to_have_text(_money(run.usage.cost_usd))
        await expect(page.locator("#g-timeline")).to_have_attribute("data-attempts", str(TASKS))
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-table.png"), full_page=True)


async def test_the_first_paint_of_a_finished_run_shows_its_numbers_and_never_zeros(
    daemon: Harness, page: Page
) -> None:
    tasks = 40
    with anyio.fail_after(DEADLINE_S):
        body = echo_run(tasks) | {"engines": {"echo": {"cost_per_1k_tokens": 1.7}}}
        run = await _finished_run(daemon, body)
        assert run.usage.cost_usd >= 0.01
        await page.add_init_script(RECORD_STATS)
        await log_in(daemon, page)

        async def refuse(route: Route) -> None:
            await route.abort()

        # No events at all: the numbers must come from the page's first reads.
        await page.route("**/events", refuse)
        await page.goto(f"{daemon.url}/#/runs/{run.id}")

        await expect(page.locator("#s-done")).to_have_text(f"{tasks}/{tasks}")
        await expect(page.locator("#s-cost")).to_have_text(_money(run.usage.cost_usd))
        await expect(page.locator("#s-tokens")).to_have_text(_tokens(run.usage.total_tokens))
        await expect(page.locator("#s-elapsed")).to_have_text(re.compile(r"^(\d+\.\ds|\d+s|\d+m \d\ds)$"))
        await expect(page.locator("#tt-count")).to_have_text(f"{tasks} tasks")
        await expect(page.locator("#stats")).to_have_attribute("aria-busy", "false")
        painted: list[str] = await page.evaluate("window.__painted")
        assert painted, "the stat cards were never painted"
        shown: dict[str, set[str]] = {}
        for value in painted:
            name, text = value.split("=", 1)
            shown.setdefault(name, set()).add(text)
        # Each card shows its loading mark, then its real value: nothing in between.
        assert shown["s-done"] <= {"\u2026", f"{tasks}/{tasks}"}, painted
        assert shown["s-failed"] <= {"\u2026", "0"}, painted
        assert shown["s-cost"] <= {"\u2026", _money(run.usage.cost_usd)}, painted
        assert shown["s-tokens"] <= {"\u2026", _tokens(run.usage.total_tokens)}, painted


async def test_money_tokens_and_durations_are_rounded_for_people(daemon: Harness, page: Page) -> None:
    with anyio.fail_after(DEADLINE_S):
        await log_in(daemon, page)
        await expect(page.locator("#runs-loading")).to_be_hidden()
        shown = await page.evaluate(
            """[fmtMoney(0.010079999999999987), fmtMoney(0.41075999999999224), fmtMoney(0), fmtMoney(0.0042),
                fmtMoney(1234.5), fmtTokens(950), fmtTokens(12345), fmtTokens(123456), fmtTokens(4_500_000),
                fmtSecs(4.23), fmtSecs(42.7), fmtSecs(65), fmtSecs(3725), fmtSecs(90000)]"""
        )
    assert shown == [
        "$0.01",
        "$0.41",
        "$0.00",
        "$0.0042",
        "$1,234.50",
        "950",
        "12.3k",
        "123k",
        "4.5M",
        "4.2s",
        "42s",
        "1m 05s",
        "1h 02m",
        "1d 1h",
    ]


async def test_a_task_s_detail_lists_its_attempts_and_its_cancel_button_cancels_it_alone(
    daemon: Harness, page: Page
) -> None:
    with anyio.fail_after(DEADLINE_S):
        body = echo_run(2) | {"engines": {"echo": {"hang": True}}}
        run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
        await log_in(daemon, page)
        await page.goto(f"{daemon.url}/#/runs/{run_id}")
        await expect(page.locator('#tt-rows .tt-row[data-state="running"]')).to_have_count(2)

        # The attempts' timeline: two lanes, both busy until now; a click opens the task of a bar.
        timeline = page.locator("#g-timeline")
        await expect(timeline).to_have_attribute("data-lanes", "2")
        box = await timeline.bounding_box()
        assert box is not None
        await timeline.click(position={"x": box["width"] * 0.8, "y": 6})
        await expect(page.locator("#d-id")).to_have_text(re.compile(r"^t00[12]$"))

        await page.locator('#tt-rows .tt-row[data-task="t001"]').click()
        await expect(page.locator("#d-state")).to_have_text("running")
        attempt = page.locator('#d-attempts li[data-attempt="1"]')
        await expect(attempt.locator(".badge")).to_have_text("running")
        await expect(attempt.locator(".when")).to_have_text(CLOCK)
        await expect(attempt).to_contain_text("running for")
        # The engine a task ran on is in its attempt (the run's default is not in the run's record).
        await expect(attempt).to_contain_text("on echo")
        await expect(page.locator("#d-facts dd").first).to_have_text("echo")
        await expect(page.locator("#d-retry")).to_be_hidden()
        await expect(page.locator("#d-cancel")).to_be_enabled()

        await page.click("#d-cancel")
        await expect(page.locator("#d-state")).to_have_text("cancelled")
        await expect(page.locator('#tt-rows .tt-row[data-task="t001"]')).to_have_attribute(
            "data-state", "cancelled"
        )
        await expect(page.locator('#tt-rows .tt-row[data-task="t002"]')).to_have_attribute(
            "data-state", "running"
        )
        await expect(page.locator("#d-cancel")).to_be_hidden()
        await expect(attempt.locator(".when")).to_have_text(
            re.compile(rf"^{CLOCK.pattern} \u2192 {CLOCK.pattern}$")
        )
        await wait_for_state(daemon.service, run_id, "t002", TaskState.RUNNING)
        assert (await daemon.service.task(run_id, "t001")).state is TaskState.CANCELLED
        await page.click("#cancel")
        await expect(page.locator("#run-state")).to_have_text("cancelled")


async def test_the_retry_task_button_runs_one_failed_task_again_and_leaves_the_others(
    daemon: Harness, page: Page
) -> None:
    work = {
        "strategy": "parallel",
        "tasks": [
            {"id": "ok", "prompt": "fine"},
            {"id": "bad1", "prompt": "broken", "options": BROKEN},
            {"id": "bad2", "prompt": "broken", "options": BROKEN},
        ],
    }
    with anyio.fail_after(DEADLINE_S):
        run = await _finished_run(daemon, {"work": work})
        await log_in(daemon, page)
        await page.goto(f"{daemon.url}/#/runs/{run.id}")
        await expect(page.locator("#run-state")).to_have_text("failed")

        await page.locator('#tt-rows .tt-row[data-task="bad1"]').click()
        await expect(page.locator("#d-attempts li")).to_have_count(1)
        await expect(page.locator("#d-attempts li")).to_contain_text("execution: simulated execution failure")
        await expect(page.locator("#d-cancel")).to_be_hidden()
        await page.click("#d-retry")
        await expect(page.locator('#tt-rows .tt-row[data-task="bad1"]')).to_have_attribute(
            "data-state", "succeeded"
        )
        await expect(page.locator("#d-attempts li .badge")).to_have_text(["failed", "succeeded"])
        await expect(page.locator("#run-state")).to_have_text("failed")
        await expect(page.locator('#tt-rows .tt-row[data-task="bad2"]')).to_have_attribute(
            "data-state", "failed"
        )
        await expect(page.locator("#s-failed")).to_have_text("1")
    assert (await daemon.service.task(run.id, "bad2")).state is TaskState.FAILED


async def test_the_runs_list_shows_start_duration_and_cost_and_pages_and_filters_by_state(
    daemon: Harness, page: Page
) -> None:
    with anyio.fail_after(DEADLINE_S):
        for index in range(22):  # different prompts: none is answered from the cache for free
            body = echo_run(1) | {
                "prompts": [f"run {index}"],
                "engines": {"echo": {"cost_per_1k_tokens": 500}},
            }
            await _finished_run(daemon, body)
        failed = await _finished_run(
            daemon,
            {"work": {"strategy": "parallel", "tasks": [{"id": "x", "prompt": "x", "options": BROKEN}]}},
        )
        await log_in(daemon, page)

        rows = page.locator("#runs tr")
        await expect(rows).to_have_count(20)
        await expect(page.locator("#runs-page")).to_have_text("1\u201320")
        await expect(page.locator("#runs-prev")).to_be_disabled()
        newest = page.locator(f'#runs tr[data-run="{failed.id}"] td')
        await expect(newest.nth(6)).to_have_text(CLOCK)  # started
        await expect(newest.nth(7)).to_have_text(re.compile(r"^\d+\.\ds$"))  # duration
        await expect(newest.nth(8)).to_have_text("$0.00")
        await expect(rows.nth(1).locator("td").nth(8)).to_have_text(re.compile(r"^\$[1-9]\d*\.\d\d$"))

        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-runs.png"))
        await page.click("#runs-next")
        await expect(rows).to_have_count(3)
        await expect(page.locator("#runs-page")).to_have_text("21\u201323")
        await expect(page.locator("#runs-next")).to_be_disabled()
        await page.click("#runs-prev")
        await expect(rows).to_have_count(20)

        await page.select_option("#runs-state", "failed")
        await expect(rows).to_have_count(1)
        await expect(page.locator(f'#runs tr[data-run="{failed.id}"] .badge')).to_have_text("failed")
        await page.select_option("#runs-state", "cancelled")
        await expect(rows).to_have_count(0)
        await expect(page.locator("#runs-none")).to_have_text("No cancelled runs.")


async def test_a_browser_whose_session_is_gone_gets_the_sign_in_page_not_a_401(
    daemon: Harness, page: Page
) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=echo_run(1)), RunCreated).id
        await log_in(daemon, page)
        await expect(page.locator("#runs tr")).to_have_count(1)
        await page.context.clear_cookies()  # as after the session expired

        await page.goto(f"{daemon.url}/#/runs/{run_id}")  # the page is cached; its API calls get 401
        await expect(page.locator("#signin-view")).to_be_visible()
        await expect(page.locator("#signin-view")).to_contain_text("parallelai dashboard")
        await expect(page.locator("#run-view")).to_be_hidden()
        await page.fill("#signin-token", "not-the-token")
        await page.click("#signin-go")
        await expect(page.locator("#signin-error")).not_to_have_text("")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-signin.png"))

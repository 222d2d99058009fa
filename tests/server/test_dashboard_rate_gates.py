"""The run page shows the daemon's provider accounts (its rate gates): one the provider paused with a
429 says so, with what it refused, while the run's task waits for it. In a real headless Chromium
against a real daemon and a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator

import anyio
import pytest
from playwright.async_api import Page, expect

from parallelai.models import TaskState
from parallelai.wire import DashboardLink, RateGateOut, RunCreated
from tests.orchestration._support import wait_for_state
from tests.server._paused_account import PAUSE_S, paused_run
from tests.server._support import Harness, parse
from tests.support.chromium import CHROMIUM
from tests.support.model_server import Failure, ScriptedModelServer, default_dialects

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

if not CHROMIUM.exists():
    pytest.skip("Chromium is not installed: run `bash scripts/setup.sh --browser`", allow_module_level=True)

DEADLINE_S = 60.0


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(default_dialects()) as server:
        yield server


async def test_a_provider_account_paused_by_a_429_is_shown_on_the_run_page(
    daemon: Harness, page: Page, model_server: ScriptedModelServer
) -> None:
    model_server.script(Failure(429, "slow down", headers={"retry-after": str(PAUSE_S)}))
    with anyio.fail_after(DEADLINE_S):
        link = parse(await daemon.http.post("/v1/dashboard/link"), DashboardLink)
        await page.goto(link.url)
        run_id = parse(await daemon.http.post("/v1/runs", json=paused_run(model_server.url)), RunCreated).id
        await wait_for_state(daemon.service, run_id, "t001", TaskState.RETRYING)
        [gate] = parse(await daemon.http.get("/v1/rate-gates"), list[RateGateOut])
        assert gate.paused_until is not None

        await page.goto(f"{daemon.url}/#/runs/{run_id}")
        account = page.locator('#gates-list li[data-provider="openai"]')
        await expect(page.locator("#gates")).to_be_visible()
        await expect(account).to_have_attribute("data-paused", "true")
        await expect(account.locator(".badge")).to_have_text(re.compile(r"^paused (\d+s|\d+\.\ds)$"))
        await expect(account).to_contain_text(f"openai {model_server.url.removeprefix('http://')}")
        await expect(account).to_contain_text(re.compile(r"\d+/500 requests/min"))
        await expect(account).to_contain_text("1 refused (429)")
        await expect(page.locator("#gates-held")).to_have_text("(1 holding tasks back)")

        await daemon.http.post(f"/v1/runs/{run_id}/cancel")
        await daemon.service.wait(run_id)

"""The dashboard's cookie is a browser session, not the API token, and neither stands in for the other."""

from __future__ import annotations

import anyio
import pytest

from parallelai.server.auth import COOKIE_NAME, dashboard_session, new_token
from parallelai.wire import DashboardLink
from tests.server._support import DEADLINE_S, Harness, parse

pytestmark = pytest.mark.anyio


async def _log_in(daemon: Harness) -> str:
    link = parse(await daemon.http.post("/v1/dashboard/link"), DashboardLink)
    response = await daemon.raw.get(link.url)
    assert response.status_code == 303
    cookie = response.cookies.get(COOKIE_NAME)
    assert cookie is not None
    return cookie


async def test_the_cookie_is_not_the_token_nor_contains_it(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        cookie = await _log_in(daemon)
    assert cookie != daemon.token
    assert daemon.token not in cookie


async def test_the_cookie_opens_the_dashboard_and_its_api_calls(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        cookie = await _log_in(daemon)
        session = {"Cookie": f"{COOKIE_NAME}={cookie}"}
        runs = await daemon.raw.get("/v1/runs", headers=session)
        page = await daemon.raw.get("/", headers=session)
    assert (runs.status_code, page.status_code) == (200, 200)


async def test_the_cookie_is_not_accepted_as_a_bearer_token(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        cookie = await _log_in(daemon)
        response = await daemon.raw.get("/v1/runs", headers={"Authorization": f"Bearer {cookie}"})
    assert response.status_code == 401


async def test_the_token_in_the_cookie_no_longer_authenticates(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.raw.get("/v1/runs", headers={"Cookie": f"{COOKIE_NAME}={daemon.token}"})
        old_name = await daemon.raw.get("/v1/runs", headers={"Cookie": f"parallelai_token={daemon.token}"})
    assert response.status_code == 401
    assert old_name.status_code == 401


async def test_a_wrong_bearer_token_is_not_rescued_by_a_good_cookie(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        cookie = await _log_in(daemon)
        headers = {"Authorization": "Bearer wrong", "Cookie": f"{COOKIE_NAME}={cookie}"}
        response = await daemon.raw.get("/v1/runs", headers=headers)
    assert response.status_code == 401


def test_sessions_differ_between_daemons_and_do_not_reveal_the_token() -> None:
    first, second = new_token(), new_token()
    assert dashboard_session(first) != dashboard_session(second)
    assert dashboard_session(first) == dashboard_session(first)  # stable for one daemon's life
    assert first not in dashboard_session(first)

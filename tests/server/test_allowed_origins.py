"""`serve --allow-origin`: a named web origin (VS Code for the web) gets CORS, and still needs the token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from parallelai.errors import InputError
from parallelai.server.auth import COOKIE_NAME, dashboard_session
from parallelai.server.daemon import checked_origins
from parallelai.server.http.app import AppSettings
from parallelai.wire import TASKS_CURSOR_HEADER
from tests.server._support import DEADLINE_S, Harness, running_app

pytestmark = pytest.mark.anyio
EDITOR = "http://localhost:3000"


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Harness]:
    settings = AppSettings(ping_s=0.2, allowed_origins=(EDITOR,))
    async with running_app(tmp_path / "db.sqlite", settings) as harness:
        yield harness


async def test_a_preflight_from_an_allowed_origin_is_answered_without_the_token(daemon: Harness) -> None:
    headers = {"Origin": EDITOR, "Access-Control-Request-Method": "POST"}
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.raw.options("/v1/runs", headers=headers)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == EDITOR
    assert "Authorization" in response.headers["access-control-allow-headers"]
    assert "Last-Event-ID" in response.headers["access-control-allow-headers"]


async def test_an_allowed_origin_with_the_token_gets_the_answer_and_cors_headers(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.get("/v1/runs", headers={"Origin": EDITOR})
    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["access-control-allow-origin"] == EDITOR
    # The task list's change counter is readable by the page (VS Code for the web reads only changes).
    assert response.headers["access-control-expose-headers"] == TASKS_CURSOR_HEADER


async def test_an_allowed_origin_without_the_token_gets_401(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.raw.get("/v1/runs", headers={"Origin": EDITOR})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == EDITOR  # so the page can read why


async def test_an_allowed_origin_cannot_use_the_dashboard_cookie(daemon: Harness) -> None:
    cookie = {"Origin": EDITOR, "Cookie": f"{COOKIE_NAME}={dashboard_session(daemon.token)}"}
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.raw.get("/v1/runs", headers=cookie)
    assert response.status_code == 401


async def test_other_origins_are_still_refused_with_no_cors_headers(daemon: Harness) -> None:
    headers = {"Origin": "http://localhost:3001", "Access-Control-Request-Method": "GET"}
    with anyio.fail_after(DEADLINE_S):
        preflight = await daemon.raw.options("/v1/runs", headers=headers)
        response = await daemon.http.get("/v1/runs", headers={"Origin": "http://localhost:3001"})
    assert preflight.status_code == 403
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


async def test_a_preflight_under_a_foreign_host_name_is_still_421(daemon: Harness) -> None:
    headers = {"Origin": EDITOR, "Access-Control-Request-Method": "GET", "Host": "attacker.example"}
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.raw.options("/v1/runs", headers=headers)
    assert response.status_code == 421


def test_allowed_origins_must_be_bare_origins() -> None:
    assert checked_origins(["http://localhost:3000/", "https://[::1]:8443"]) == (
        "http://localhost:3000",
        "https://[::1]:8443",
    )
    for bad in ("*", "localhost:3000", "http://localhost:3000/path", "file:///x"):
        with pytest.raises(InputError, match="not an origin"):
            checked_origins([bad])

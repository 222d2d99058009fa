"""start_run over MCP keeps to the directories the daemon allows, as HTTP does (docs/config.md): an
assistant cannot be talked into running agents elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from parallelai.orchestration.service import OrchestrationService
from parallelai.server.mcp.server import build_mcp_server
from parallelai.server.workdir_roots import WORKDIR_ROOTS_ENV
from tests.mcp._support import call_error

pytestmark = pytest.mark.anyio


async def test_a_workdir_outside_the_allowed_roots_is_refused_naming_them(
    service: OrchestrationService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    allowed.mkdir()
    elsewhere.mkdir()
    monkeypatch.setenv(WORKDIR_ROOTS_ENV, str(allowed))  # read when the server is built, as at start

    async with Client(build_mcp_server(service)) as client:
        message = await call_error(client, "start_run", {"tasks": ["x"], "workdir": str(elsewhere)})

    assert str(elsewhere) in message
    assert str(allowed) in message
    assert await service.list_runs(None, 10) == []  # nothing was started

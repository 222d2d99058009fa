"""MCP tests talk to a real server over a real service, through the SDK's in-memory client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client

from parallelai.orchestration.service import OrchestrationService
from parallelai.server.mcp.server import build_mcp_server


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[OrchestrationService]:
    async with OrchestrationService.open(tmp_path / "store.sqlite") as opened:
        yield opened


@pytest.fixture
async def client(service: OrchestrationService) -> AsyncIterator[Client]:
    async with Client(build_mcp_server(service)) as connected:
        yield connected


from tests.support.fixtures import cli_bin, model_server  # noqa: E402, F401  (the real CLIs, the scripted model)

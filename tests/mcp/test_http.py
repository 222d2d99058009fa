"""The MCP endpoint mounted at /mcp on the daemon's app: same tools, same guard as the HTTP API."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from parallelai.server.mcp.http import MCP_PATH
from tests.mcp._daemon import daemon_with_mcp
from tests.mcp._support import DEADLINE_S, INITIALIZE, call_ok

pytestmark = pytest.mark.anyio


async def test_an_mcp_client_with_the_token_runs_start_run_over_streamable_http(tmp_path: Path) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    with anyio.fail_after(DEADLINE_S):
        async with daemon_with_mcp(tmp_path / "store.sqlite") as daemon:
            headers = {"Authorization": f"Bearer {daemon.token}"}
            async with (
                httpx2.AsyncClient(headers=headers) as http,
                Client(streamable_http_client(daemon.url + MCP_PATH, http_client=http)) as client,
            ):
                result = await client.call_tool(
                    "start_run", {"tasks": ["a", "b"], "wait": True}, progress_callback=on_progress
                )
                assert result.structured_content is not None
                page = await call_ok(client, "get_results", {"run_id": result.structured_content["run_id"]})
    assert result.structured_content["state"] == "succeeded"
    assert [task["text"] for task in page["tasks"]] == ["echo: a", "echo: b"]
    assert seen[-1] == 2


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Origin": "http://evil.example"}, 403),
        ({"Host": "evil.example"}, 421),
    ],
)
async def test_the_mcp_endpoint_sits_behind_the_daemons_guard(
    tmp_path: Path, headers: dict[str, str], status: int
) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with daemon_with_mcp(tmp_path / "store.sqlite") as daemon, httpx.AsyncClient() as http:
            sent = {"Accept": "application/json, text/event-stream"}
            if "Origin" in headers or "Host" in headers:
                sent["Authorization"] = f"Bearer {daemon.token}"
            response = await http.post(daemon.url + MCP_PATH, json=INITIALIZE, headers=sent | headers)
    assert response.status_code == status

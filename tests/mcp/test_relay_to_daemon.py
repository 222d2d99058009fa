"""`parallelai mcp` relays to a running daemon, whose runs outlive the session."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import anyio
import pytest
from mcp import Client

from parallelai.client.discovery import new_info, remove_discovery, write_discovery
from parallelai.models import RunState
from tests.mcp._daemon import daemon_with_mcp
from tests.mcp._stdio import stdio_server
from tests.mcp._support import call_ok

pytestmark = pytest.mark.anyio
DEADLINE_S = 60.0


# "legacy" is the initialize handshake most clients speak today; "auto" negotiates the newest protocol.
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_run_started_through_the_relay_runs_in_the_daemon_and_outlives_the_session(
    tmp_path: Path, mode: Literal["legacy", "auto"]
) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    with anyio.fail_after(DEADLINE_S):
        async with daemon_with_mcp(tmp_path / "daemon.sqlite") as daemon:
            info = new_info(daemon.url, daemon.token, tmp_path / "daemon.sqlite")
            write_discovery(info)
            try:
                async with Client(stdio_server(tmp_path), mode=mode) as client:
                    waited = await client.call_tool(
                        "start_run", {"tasks": ["a", "b"], "wait": True}, progress_callback=on_progress
                    )
                    left = await call_ok(
                        client, "start_run", {"tasks": ["slow"], "engine_options": {"latency": 0.3}}
                    )
                # The relay is gone; the daemon finishes the run it was given.
                finished = await daemon.service.wait(left["run_id"])
            finally:
                remove_discovery(info.pid)
    assert waited.structured_content is not None
    assert waited.structured_content["state"] == "succeeded"
    assert seen[-1] == 2
    assert finished.state is RunState.SUCCEEDED

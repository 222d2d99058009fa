"""`parallelai mcp` answers the start of a session at once, whether or not the daemon is up yet.

The process is driven over raw JSON-RPC lines, as an assistant drives it, so what is measured is
what an assistant waits for: spawn to the `initialize` answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import IO, Any

import anyio
import pytest
from mcp import Client

from parallelai.client.discovery import read_discovery
from parallelai.client.launcher import stop_daemon
from parallelai.paths import STATE_DIR_ENV
from parallelai.server.mcp.manifest import Manifest
from parallelai.server.mcp.manifest_record import record_manifest
from tests.mcp._stdio import mcp_command, stdio_server
from tests.mcp._support import INITIALIZE, call_ok

DEADLINE_S = 60.0


class RawSession:
    """`parallelai mcp` as a child process, spoken to one JSON line at a time."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            mcp_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self._stdin: IO[bytes] = self.process.stdin
        self._stdout: IO[bytes] = self.process.stdout

    def send(self, message: dict[str, Any]) -> None:
        self._stdin.write(json.dumps(message).encode() + b"\n")
        self._stdin.flush()

    def answer(self, request_id: int) -> dict[str, Any]:
        """The response to `request_id` (a hung server fails the test through the process deadline)."""
        while line := self._stdout.readline():
            message: dict[str, Any] = json.loads(line)
            if message.get("id") == request_id:
                return message
        raise AssertionError(f"stdout closed before request {request_id} was answered: {self.stderr()}")

    def start(self) -> dict[str, Any]:
        """The handshake, as a client makes it: the answer to `initialize`."""
        self.send(INITIALIZE)
        answer = self.answer(1)
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer

    def call(self, request_id: int, tool: str) -> dict[str, Any]:
        self.send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": tool, "arguments": {}},
            }
        )
        return self.answer(request_id)

    def close(self) -> None:
        self._stdin.close()
        self.process.wait(timeout=DEADLINE_S)

    def stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read().decode()


def _env(state_dir: Path) -> dict[str, str]:
    return {**os.environ, STATE_DIR_ENV: str(state_dir)}


def test_initialize_is_answered_with_no_daemon_running_and_the_first_call_waits_for_it(
    isolated_state: Path, capsys: pytest.CaptureFixture[str], record_property: Any
) -> None:
    assert read_discovery() is None
    started = time.perf_counter()
    session = RawSession(_env(isolated_state))
    try:
        initialized = session.start()
        elapsed = time.perf_counter() - started
        first_call = session.call(2, "list_runs")
    finally:
        session.close()
    # Reported, not asserted: bench/ (case f) holds the target, on a machine measured next to a baseline.
    record_property("initialize_s", round(elapsed, 3))
    with capsys.disabled():
        print(
            f"\n  `parallelai mcp` answered initialize {elapsed:.3f} s after it was spawned, no daemon running"
        )
    assert initialized["result"] == Manifest.load().initialize("2025-06-18")
    assert first_call["result"]["isError"] is False
    assert first_call["result"]["structuredContent"] == {"runs": []}
    assert read_discovery() is not None  # the first call brought the daemon up


def test_the_session_starts_even_when_the_daemon_cannot_and_a_tool_call_says_why(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    session = RawSession(_env(blocker / "state"))  # a state dir that cannot be created: no daemon
    try:
        initialized = session.start()
        session.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        tools = session.answer(2)
        call = session.call(3, "list_runs")
    finally:
        session.close()
    manifest = Manifest.load()
    assert initialized["result"] == manifest.initialize("2025-06-18")
    assert tools["result"] == manifest.answer("tools/list")
    assert call["result"]["isError"] is True
    (text,) = [block["text"] for block in call["result"]["content"]]
    assert "could not reach or start its daemon" in text
    assert "not-a-dir" in text  # the cause, where the user can see what to fix


@pytest.mark.anyio
async def test_the_manifest_is_what_the_server_answers() -> None:
    recorded = await record_manifest()
    assert recorded == Manifest.load().recorded, (
        "the MCP server's tools, prompts or handshake changed: run "
        "`python -m parallelai.server.mcp.manifest_record` and commit parallelai/server/mcp/manifest.json"
    )


def test_an_unknown_protocol_version_is_answered_with_the_newest_the_server_speaks() -> None:
    manifest = Manifest.load()
    answered = manifest.initialize("1999-01-01")
    assert answered["protocolVersion"] == manifest.newest_version
    assert manifest.initialize("2024-11-05")["protocolVersion"] == "2024-11-05"


@pytest.mark.anyio
async def test_a_session_carries_on_after_the_daemon_is_restarted(tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with Client(stdio_server(tmp_path), mode="legacy") as client:
            before = await call_ok(client, "start_run", {"tasks": ["a"], "wait": True})
            first = read_discovery()
            assert first is not None
            await stop_daemon()
            # The link is gone; the next call brings a daemon up again and re-makes the session.
            after = await call_ok(client, "run_status", {"run_id": before["run_id"]})
            second = read_discovery()
    assert second is not None
    assert second.pid != first.pid
    assert after["state"] == "succeeded"


def test_the_stdio_server_does_not_load_the_mcp_sdk_before_it_answers() -> None:
    probe = "import sys, parallelai.cli.entry, parallelai.cli.mcp_command; print(sorted(m for m in sys.modules if m.split('.')[0] in {'mcp', 'mcp_types', 'pydantic', 'httpx', 'httpx2'}))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


@pytest.mark.anyio
async def test_a_client_that_cancels_a_waiting_start_run_cancels_the_run_in_the_daemon(
    tmp_path: Path,
) -> None:
    waiting = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        waiting.set()

    hanging = {"tasks": ["a", "b"], "wait": True, "engine_options": {"hang": True}}
    with anyio.fail_after(DEADLINE_S):
        async with Client(stdio_server(tmp_path), mode="legacy") as client:
            async with anyio.create_task_group() as group:
                group.start_soon(
                    partial(client.call_tool, "start_run", hanging, progress_callback=on_progress)
                )
                await waiting.wait()
                group.cancel_scope.cancel()  # the SDK client sends notifications/cancelled
            # The relay passed the cancellation on: the daemon cancelled the run itself.
            run = await until_run_ends(client)
    assert run["state"] == "cancelled"


async def until_run_ends(client: Client) -> dict[str, Any]:
    while True:
        (run,) = (await call_ok(client, "list_runs"))["runs"]
        if run["state"] not in ("pending", "running"):
            return dict(run)
        await anyio.sleep(0.05)

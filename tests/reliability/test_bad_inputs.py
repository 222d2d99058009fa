"""Every row of the bad-input table (bad_inputs.py) against its surface: the expected status or
exit code and a message that says what is wrong — never a 500, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from parallelai.orchestration.service import OrchestrationService
from parallelai.server.mcp.server import build_mcp_server
from parallelai.wire import ErrorBody
from tests.mcp._support import error_text
from tests.reliability.bad_inputs import TABLE, TMP, BadInput
from tests.reliability.tally import Tally
from tests.server._support import DEADLINE_S, parse, running_app

pytestmark = pytest.mark.anyio

# What a status must be answered with: the error codes the API documents.
_CODES = {400: {"malformed_json", "bad_last_event_id"}, 405: {"method_not_allowed"}, 413: {"body_too_large"}}


def _headers(row: BadInput) -> dict[bytes, bytes]:
    # As bytes: a header value may be any latin-1 byte, which httpx's `str` values refuse.
    headers = {b"Content-Type": row.content_type.encode()}
    if row.last_event_id is not None:
        headers[b"Last-Event-ID"] = row.last_event_id
    return headers


async def _http(row: BadInput, tmp_path: Path) -> tuple[str, str]:
    data = row.data()
    assert isinstance(data, bytes)
    async with running_app(tmp_path / "db.sqlite") as daemon:
        with anyio.fail_after(DEADLINE_S):
            response = await daemon.http.request(
                row.method,
                row.path,
                content=data.replace(TMP.encode(), str(tmp_path).encode()),
                headers=_headers(row),
            )
    error = parse(response, ErrorBody).error
    assert error.status == response.status_code
    assert error.code in _CODES.get(error.status, {error.code})
    return f"HTTP {response.status_code}", error.message


def _cli(argv: list[str], tmp_path: Path) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "parallelai", "run", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=DEADLINE_S,
        check=False,
    )
    return f"exit {done.returncode}", done.stderr


async def _mcp(arguments: dict[str, Any], tmp_path: Path) -> tuple[str, str]:
    async with (
        OrchestrationService.open(tmp_path / "store.sqlite") as service,
        Client(build_mcp_server(service)) as client,
    ):
        with anyio.fail_after(DEADLINE_S):
            result = await client.call_tool("start_run", arguments)
    return ("tool error" if result.is_error else "started"), error_text(result.content)


async def _outcome(row: BadInput, tmp_path: Path) -> tuple[str, str]:
    data = row.data()
    if row.surface == "http":
        return await _http(row, tmp_path)
    if row.surface == "mcp":
        assert isinstance(data, dict)
        return await _mcp(data, tmp_path)
    if row.surface == "tasks-file":
        assert isinstance(data, bytes)
        (tmp_path / "tasks.yaml").write_bytes(data)
        return await anyio.to_thread.run_sync(_cli, ["--tasks-file", "tasks.yaml"], tmp_path)
    assert isinstance(data, list)
    return await anyio.to_thread.run_sync(_cli, data, tmp_path)


@pytest.mark.parametrize("row", TABLE, ids=[f"{row.surface}: {row.name}" for row in TABLE])
async def test_a_bad_input_gets_its_status_and_a_message_saying_what_is_wrong(
    row: BadInput, tmp_path: Path, tally: Tally
) -> None:
    outcome, message = await _outcome(row, tmp_path)
    tally.bad_inputs_tried += 1
    if outcome.startswith("HTTP 5") or "Traceback" in message:
        tally.server_errors += 1
    assert "Traceback" not in message
    assert outcome == row.expect, message
    assert row.says in message


async def test_trace_gets_405_with_an_allow_header(tmp_path: Path, tally: Tally) -> None:
    async with running_app(tmp_path / "db.sqlite") as daemon:
        with anyio.fail_after(DEADLINE_S):
            response = await daemon.http.request("TRACE", "/v1/runs")
    tally.bad_inputs_tried += 1
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert parse(response, ErrorBody).error.code == "method_not_allowed"

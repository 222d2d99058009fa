"""schemathesis against a live daemon's OpenAPI document, every check on: not one failure.

The daemon runs on a bare machine (no assistant on PATH, no key) with the echo engine and only
this test's directory allowed as a workdir, so nothing a generated body asks for reaches a real
assistant or this checkout.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.config import env_name
from parallelai.server.workdir_roots import WORKDIR_ROOTS_ENV
from tests.reliability.tally import Tally
from tests.server._process import daemon_process

pytestmark = pytest.mark.anyio

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SEED = 17  # fixed: a failure found here is found again by the same command
EXAMPLES = 5  # per operation in the fuzzing phase; the coverage phase adds its boundary cases
DEADLINE_S = 600.0


def _command(url: str, report: Path) -> list[str]:
    return [
        str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{url}/v1/openapi.json",
        "--checks", "all", "--max-examples", str(EXAMPLES), "--seed", str(SEED),
        "--workers", "1",  # hypothesis' lambda cache is not thread-safe (a spurious runtime error)
        "--generation-database", "none", "--no-color",
        "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip


def _server_errors(report: dict[str, Any]) -> int:
    return sum("not_a_server_error" in json.dumps(failure) for failure in report["failures"])


async def test_schemathesis_finds_no_failure_of_any_check_against_the_live_daemon(
    tmp_path: Path, bare_machine: Path, monkeypatch: pytest.MonkeyPatch, tally: Tally
) -> None:
    monkeypatch.setenv(env_name("engine"), "echo")
    monkeypatch.setenv(WORKDIR_ROOTS_ENV, str(tmp_path))
    monkeypatch.chdir(tmp_path)  # the daemon's default workdir
    report_path = tmp_path / "schemathesis.json"
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite") as daemon:
            env = {**os.environ, "PARALLELAI_TEST_TOKEN": daemon.info.token}
            done = await anyio.run_process(_command(daemon.info.url, report_path), env=env, check=False)
    output = done.stdout.decode(errors="replace")[-6000:]
    report: dict[str, Any] = json.loads(report_path.read_text())
    tally.api_cases += report["test_cases"]["generated"]
    tally.server_errors += _server_errors(report)
    assert report["complete"], output
    assert report["operations"]["tested"] == report["operations"]["total"], output
    assert (report["failures"], report["errors"]) == ([], []), output
    assert done.returncode == 0, output
    assert report["test_cases"]["generated"] > 0

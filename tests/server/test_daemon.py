"""The daemon process: one per state dir, a clean SIGTERM or SIGHUP, and runs that outlive it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import discovery_path
from parallelai.client.state_lock import EXIT_STATE_DIR_BUSY, hold_state_dir
from parallelai.models import RunState
from parallelai.orchestration.service import OrchestrationService
from tests.server._process import daemon_process
from tests.server._support import echo_run

pytestmark = pytest.mark.anyio
DEADLINE_S = 60.0


async def test_a_second_daemon_on_the_same_state_dir_leaves_it_to_the_first_with_exit_code_75(
    tmp_path: Path,
) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite") as running:
            second = await anyio.run_process(
                [sys.executable, "-m", "parallelai.server.daemon", "--port", "0"], check=False
            )
    assert second.returncode == EXIT_STATE_DIR_BUSY == 75
    assert f"already running at {running.info.url}" in second.stderr.decode()


async def test_a_daemon_started_while_another_is_starting_exits_75_naming_the_one_starting() -> None:
    with anyio.fail_after(DEADLINE_S), hold_state_dir():  # this test process plays the daemon starting
        second = await anyio.run_process(
            [sys.executable, "-m", "parallelai.server.daemon", "--port", "0"], check=False
        )
    assert second.returncode == EXIT_STATE_DIR_BUSY
    assert f"another daemon (pid {os.getpid()}) holds the state dir" in second.stderr.decode()
    assert "still starting" in second.stderr.decode()


async def test_a_non_loopback_host_is_refused_with_exit_code_2(tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        refused = await anyio.run_process(
            [sys.executable, "-m", "parallelai.server.daemon", "--host", "0.0.0.0", "--port", "0"],
            check=False,
            stderr=subprocess.PIPE,
        )
    assert refused.returncode == 2
    assert "--allow-remote" in refused.stderr.decode()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGHUP], ids=lambda sig: sig.name)
async def test_a_stop_signal_removes_the_discovery_file_and_leaves_the_run_resumable(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    store = tmp_path / "db.sqlite"
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(store) as running:
            async with DaemonClient(running.info) as client:
                body = echo_run(4) | {"engines": {"echo": {"hang": True}}}
                run_id = (await client.create_run(body)).id
            running.process.send_signal(stop_signal)
            code = await running.process.wait()
        assert code == 0
        assert not discovery_path().exists()
        async with OrchestrationService.open(store) as service:
            summary = await service.summary(run_id)
    assert summary.state in (RunState.INTERRUPTED, RunState.RUNNING)  # either way, resumable

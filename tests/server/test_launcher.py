"""`start_detached`: a starter whose daemon loses the state dir waits for the one that holds it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import anyio
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import DaemonInfo, new_info, pid_alive, remove_discovery, write_discovery
from parallelai.client.errors import DaemonError
from parallelai.client.launcher import LOG_NAME, start_detached
from parallelai.client.state_lock import hold_state_dir
from parallelai.paths import state_dir

pytestmark = pytest.mark.anyio
DEADLINE_S = 60.0
BUSY_MARK = "not starting: another daemon"


async def _log_shows(mark: str) -> None:
    """Return once the daemons' shared log holds `mark` (each loser writes one line)."""
    log = state_dir() / LOG_NAME
    while True:
        if log.exists() and mark in log.read_text():
            return
        await anyio.sleep(0.05)


async def test_a_starter_whose_daemon_finds_the_state_dir_held_returns_the_holder_once_it_is_up(
    tmp_path: Path,
) -> None:
    started: list[DaemonInfo] = []

    async def start() -> None:
        started.append(await start_detached("127.0.0.1", 0, tmp_path / "db.sqlite"))

    # This test process plays a daemon that holds the state dir and is still starting.
    holder = new_info("http://127.0.0.1:9", "token", tmp_path / "db.sqlite")
    try:
        with anyio.fail_after(DEADLINE_S), hold_state_dir():
            async with anyio.create_task_group() as group:
                group.start_soon(start)
                await _log_shows(BUSY_MARK)
                write_discovery(holder)
    finally:
        remove_discovery(holder.pid)
    assert started == [holder]


async def test_a_starter_starts_again_when_the_holder_ends_without_coming_up(tmp_path: Path) -> None:
    started: list[DaemonInfo] = []

    async def start() -> None:
        started.append(await start_detached("127.0.0.1", 0, tmp_path / "db.sqlite"))

    with anyio.fail_after(DEADLINE_S):
        async with anyio.create_task_group() as group:
            with hold_state_dir():
                group.start_soon(start)
                await _log_shows(BUSY_MARK)
            # Released without a discovery file, as by a daemon that failed before coming up.
        (info,) = started
        async with DaemonClient(info) as client:
            health = await client.health()
    assert info.pid != os.getpid()
    assert pid_alive(info.pid)
    assert health.pid == info.pid


async def test_a_daemon_that_cannot_start_is_reported_as_an_error_with_its_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with anyio.fail_after(DEADLINE_S), pytest.raises(DaemonError) as raised:
            await start_detached("127.0.0.1", port, tmp_path / "db.sqlite")
    assert "exited with status 2" in str(raised.value)
    assert str(state_dir() / LOG_NAME) in str(raised.value)
    assert "try another --port" in (state_dir() / LOG_NAME).read_text()


async def test_a_daemon_started_from_a_directory_holding_a_parallelai_package_runs_the_installed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. a checkout of another parallelai version, or a project's own module of that name
    project = tmp_path / "project"
    (project / "parallelai").mkdir(parents=True)
    (project / "parallelai" / "__init__.py").write_text(
        "raise SystemExit('the project shadowed parallelai')\n"
    )
    monkeypatch.chdir(project)

    with anyio.fail_after(DEADLINE_S):
        info = await start_detached("127.0.0.1", 0, tmp_path / "db.sqlite")
        async with DaemonClient(info) as client:
            health = await client.health()

    assert health.pid == info.pid
    assert pid_alive(info.pid)

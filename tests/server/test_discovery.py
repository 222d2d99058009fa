"""The discovery file: private, atomic, and ignored when its daemon is gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from parallelai.client.discovery import (
    DaemonInfo,
    discovery_path,
    pid_alive,
    read_discovery,
    remove_discovery,
    write_discovery,
)


def _info(pid: int) -> DaemonInfo:
    return DaemonInfo(url="http://127.0.0.1:1", token="t" * 43, pid=pid, store="/x.db", started_at=0.0)


def test_the_file_is_written_mode_0600_in_the_state_dir(isolated_state: Path) -> None:
    path = write_discovery(_info(os.getpid()))
    assert path == discovery_path() == isolated_state / "daemon.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert isolated_state.stat().st_mode & 0o077 == 0
    assert read_discovery() == _info(os.getpid())


def test_a_file_whose_pid_is_gone_is_stale() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    write_discovery(_info(child.pid))
    assert not pid_alive(child.pid)
    assert read_discovery() is None


def test_a_broken_or_missing_file_reads_as_no_daemon() -> None:
    assert read_discovery() is None
    path = discovery_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    assert read_discovery() is None


def test_only_the_daemon_that_wrote_the_file_removes_it() -> None:
    write_discovery(_info(os.getpid()))
    remove_discovery(os.getpid() + 1)
    assert discovery_path().exists()
    remove_discovery(os.getpid())
    assert not discovery_path().exists()

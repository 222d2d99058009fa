"""The state dir holds runs, prompts and the daemon's discovery file (its token): owner only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from parallelai.client.state_lock import hold_state_dir
from parallelai.errors import ConfigError
from parallelai.orchestration.service import OrchestrationService
from parallelai.paths import ensure_private_dir, state_dir

pytestmark = pytest.mark.anyio


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mode", [0o755, 0o777, 0o750, 0o701])
def test_a_state_dir_open_to_others_is_tightened_when_the_daemon_takes_it(mode: int) -> None:
    directory = state_dir()
    directory.mkdir(parents=True)
    directory.chmod(mode)
    with hold_state_dir():
        assert _mode(directory) == 0o700


async def test_an_embedded_run_tightens_the_state_dir_its_store_is_in() -> None:
    directory = state_dir()
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    async with OrchestrationService.open(directory / "parallelai.db"):
        pass
    assert _mode(directory) == 0o700


def test_a_directory_inside_the_state_dir_is_tightened_too() -> None:
    inner = state_dir() / "engines" / "codex"
    inner.mkdir(parents=True, mode=0o755)
    inner.chmod(0o755)
    ensure_private_dir(inner)
    assert _mode(inner) == 0o700


def test_a_directory_outside_the_state_dir_is_created_private_but_never_re_moded(tmp_path: Path) -> None:
    project = tmp_path / "project"  # e.g. the parent of a `--store ./runs.db` the user named
    project.mkdir()
    project.chmod(0o755)
    ensure_private_dir(project)
    assert _mode(project) == 0o755
    fresh = tmp_path / "fresh"
    ensure_private_dir(fresh)
    assert _mode(fresh) == 0o700


def test_a_state_dir_that_is_not_ours_to_chmod_is_refused_saying_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    directory = state_dir()
    directory.mkdir(parents=True)
    directory.chmod(0o755)

    def refuse(path: Path, mode: int) -> None:  # as chmod answers for another user's directory
        raise PermissionError(1, os.strerror(1), str(path))

    monkeypatch.setattr(Path, "chmod", refuse)
    with pytest.raises(ConfigError) as refused:
        ensure_private_dir(directory)
    message = str(refused.value)
    assert str(directory) in message
    assert "0755" in message
    assert f"chmod 700 {directory}" in message
    assert "PARALLELAI_STATE_DIR" in message

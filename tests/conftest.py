"""Shared fixtures: every test gets its own state dir, so nothing leaks between tests or from the user."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from parallelai.client.discovery import read_discovery
from parallelai.client.launcher import stop_daemon


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("PARALLELAI_STATE_DIR", str(state))
    monkeypatch.delenv("PARALLELAI_STORE", raising=False)
    return state


@pytest.fixture(autouse=True)
def no_daemon_left_behind(isolated_state: Path) -> Iterator[None]:
    """A test whose client started a detached daemon (`parallelai mcp`, `lsp`, `--daemon`) gets it
    stopped afterwards, so no process outlives its test."""
    yield
    info = read_discovery()
    if info is not None and info.pid != os.getpid():  # some tests publish their in-process app
        anyio.run(stop_daemon)

"""Shared fixtures: every test gets its own state dir, so nothing leaks between tests or from the user."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("PARALLELAI_STATE_DIR", str(state))
    monkeypatch.delenv("PARALLELAI_STORE", raising=False)
    return state

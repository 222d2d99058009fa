"""Fixtures shared by engine and end-to-end tests: the scripted model server and the real CLIs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.model_server import ScriptedModelServer, default_dialects

ROOT = Path(__file__).resolve().parents[2]
CLI_BIN_DIR = ROOT / ".tools" / "npm" / "node_modules" / ".bin"


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    """A started model server speaking every dialect, stopped (and its hangs released) after the test."""
    with ScriptedModelServer(default_dialects()) as server:
        yield server


def find_cli(name: str) -> Path:
    """The installed CLI `name`; fails (never skips: CI installs them) with how to install it."""
    path = CLI_BIN_DIR / name
    if not path.exists():
        pytest.fail(
            f"the {name!r} CLI is not installed in {CLI_BIN_DIR}; run scripts/install-clis.sh",
            pytrace=False,
        )
    return path


@pytest.fixture
def cli_bin() -> Callable[[str], Path]:
    """`cli_bin("claude")` -> the path of the pinned CLI installed by scripts/install-clis.sh."""
    return find_cli

"""Shared fixtures: every test gets its own state dir, so nothing leaks between tests or from the user."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from parallelai.client.discovery import read_discovery
from parallelai.client.launcher import stop_daemon
from parallelai.config import RunTable, env_name
from parallelai.engines import claude_code, codex, copilot, cursor, gemini_cli
from parallelai.paths import CONFIG_ENV
from parallelai.server.workdir_roots import WORKDIR_ROOTS_ENV
from tests.reliability.tally import Tally, report, tally_of


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def tally(pytestconfig: pytest.Config) -> Tally:
    """The reliability tier's session tally (tests/reliability/tally.py): a test adds what it tried."""
    return tally_of(pytestconfig)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    report(terminalreporter, config)


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("PARALLELAI_STATE_DIR", str(state))
    monkeypatch.delenv("PARALLELAI_STORE", raising=False)
    return state


@pytest.fixture(autouse=True)
def workdirs_under_the_test_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests' workdirs live under pytest's temporary directory, which need not be under the home
    directory (or the directory a test's daemon starts in) that a daemon allows by default: it is
    allowed the way a user allows others (docs/config.md). The README's tours, run in this checkout,
    rely on the default (home and where the daemon started), as a user does."""
    home, here = os.path.expanduser("~"), os.getcwd()
    roots = (tmp_path_factory.getbasetemp(), home, here)
    monkeypatch.setenv(WORKDIR_ROOTS_ENV, os.pathsep.join(str(root) for root in roots))


@pytest.fixture(autouse=True)
def echo_unless_a_test_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run the `echo` engine unless they name another. It is named the way a user can name
    it, with PARALLELAI_ENGINE, so that no outcome depends on which assistants this machine has
    installed and signed in. The user's other PARALLELAI_* defaults and config file stay out
    (the user's config file is in the state dir, which `isolated_state` replaces already).
    Tests of choosing an engine take `no_engine_named` or `bare_machine`."""
    for key in RunTable.model_fields:
        monkeypatch.delenv(env_name(key), raising=False)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.setenv(env_name("engine"), "echo")


@pytest.fixture
def no_engine_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """No engine in the environment: flags and config files decide, else the machine's assistants."""
    monkeypatch.delenv(env_name("engine"), raising=False)


@pytest.fixture
def bare_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_engine_named: None) -> Path:
    """A machine with no assistant installed or signed in: an empty PATH (its `bin`, returned, for
    tests that install fakes), a fresh HOME, and no credential in the environment."""
    bin_dir = tmp_path / "bare-bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(tmp_path / "bare-home"))
    credentials = {
        *claude_code.CREDENTIAL_ENV,
        *codex.PASS_ENV,
        *gemini_cli.PASS_ENV,
        *copilot.PASS_ENV,
        *cursor.PASS_ENV,
        "CLAUDE_CONFIG_DIR",
        "CODEX_HOME",
        "COPILOT_HOME",
    }
    for name in credentials:
        monkeypatch.delenv(name, raising=False)
    return bin_dir


@pytest.fixture(autouse=True)
def no_daemon_left_behind(isolated_state: Path) -> Iterator[None]:
    """A test whose client started a detached daemon (`parallelai mcp`, `lsp`, `--daemon`) gets it
    stopped afterwards, so no process outlives its test."""
    yield
    info = read_discovery()
    if info is not None and info.pid != os.getpid():  # some tests publish their in-process app
        anyio.run(stop_daemon)

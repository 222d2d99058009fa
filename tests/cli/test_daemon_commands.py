"""`serve --detach`, `status`, `dashboard` and `stop`, on a parser built the way main.py builds it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import anyio
import httpx
import pytest

from parallelai.cli.daemon_commands import add_daemon_commands
from parallelai.errors import InputError

pytestmark = pytest.mark.anyio
DEADLINE_S = 60.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parallelai")
    parser.add_argument("--store")
    add_daemon_commands(parser.add_subparsers(required=True))
    return parser


async def _run(store: Path, *argv: str) -> int:
    args = _parser().parse_args(["--store", str(store), *argv])
    code: int = await args.command(args)
    return code


async def test_a_detached_daemon_reports_its_status_gives_a_dashboard_link_and_stops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "db.sqlite"
    with anyio.fail_after(DEADLINE_S):
        try:
            assert await _run(store, "serve", "--port", "0", "--detach") == 0
            assert "parallelai daemon running at http://127.0.0.1:" in capsys.readouterr().out

            assert await _run(store, "status", "--json") == 0
            status = json.loads(capsys.readouterr().out)
            assert status["running"] is True
            assert status["store"] == str(store)

            assert await _run(store, "dashboard", "--no-open") == 0
            link = capsys.readouterr().out.strip()
            assert link.startswith(status["url"] + "/login?code=")
            async with httpx.AsyncClient() as browser:
                assert (await browser.get(link)).status_code == 303
        finally:
            assert await _run(store, "stop") == 0
        assert "stopped the daemon" in capsys.readouterr().out
        assert await _run(store, "status") == 1
        assert "no daemon is running" in capsys.readouterr().out
        assert await _run(store, "stop") == 0
        assert "no daemon is running" in capsys.readouterr().out


async def test_serve_refuses_a_non_loopback_host_without_allow_remote(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--allow-remote"):
        await _run(tmp_path / "db.sqlite", "serve", "--host", "0.0.0.0", "--port", "0")


def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["serve", "--port", "70000"])
    assert exit_info.value.code == 2

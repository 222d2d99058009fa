"""`parallelai run --daemon` and `--monitor web`: planned here, executed by a daemon that outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import read_discovery
from parallelai.models import RunState
from tests.cli._terminal import terminal
from tests.support.polling import until

pytestmark = pytest.mark.anyio
DEADLINE_S = 90.0
PARALLELAI = [sys.executable, "-m", "parallelai"]


async def _parallelai(cwd: Path, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    completed = await anyio.run_process(
        [*PARALLELAI, *argv], cwd=cwd, env={**os.environ, **(env or {})}, check=False
    )
    return completed.returncode, completed.stdout.decode() + completed.stderr.decode()


async def test_a_run_with_daemon_executes_in_a_daemon_it_starts_and_reads_files_from_here(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.py").write_text("print('a')\n")
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text(
        "strategy: dag\ntasks:\n"
        "  - {id: read, prompt: 'Explain {{ a }}', files: [a.py], inputs: {a: a.py}}\n"
        "  - {id: sum, prompt: 'Summarise: {{ output }}', depends_on: [read]}\n"
    )
    assert read_discovery() is None
    with anyio.fail_after(DEADLINE_S):
        code, output = await _parallelai(tmp_path, "run", "--daemon", "--tasks-file", str(tasks), "--json")
        info = read_discovery()
        assert info is not None, output
        async with DaemonClient(info) as client:
            (run,) = await client.list_runs()
            tasks_out = await client.tasks(run.id)
    assert code == 0, output
    assert run.state is RunState.SUCCEEDED
    assert run.strategy == "dag"
    assert [task.id for task in tasks_out] == ["read", "sum"]
    assert f'"id": "{run.id}"' in output


async def test_bad_input_with_daemon_is_exit_2_and_starts_no_daemon(tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        code, output = await _parallelai(tmp_path, "run", "--daemon", "x", "--engine", "ecko")
    assert code == 2
    assert "unknown engine" in output
    assert read_discovery() is None


async def test_monitor_web_opens_the_dashboard_on_the_runs_page_through_a_one_time_link(
    tmp_path: Path,
) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf %s "$1" > {opened}\n')
    browser.chmod(0o755)
    with anyio.fail_after(DEADLINE_S):
        code, output = await _parallelai(
            tmp_path, "run", "--monitor", "web", "a", "b", env={"BROWSER": str(browser)}
        )
        url = opened.read_text()
        info = read_discovery()
        assert info is not None
        async with DaemonClient(info) as client:
            (run,) = await client.list_runs()
        async with httpx.AsyncClient(follow_redirects=True) as browser_http:
            page = await browser_http.get(url)
    assert code == 0, output
    assert url.startswith(f"{info.url}/login?code=")
    assert url.endswith(f"#/runs/{run.id}")
    assert page.status_code == 200
    assert "<html" in page.text.lower()


async def test_monitor_terminal_shows_the_run_live_and_prints_the_summary_after_q(tmp_path: Path) -> None:
    prompts = [f"prompt {index}" for index in range(12)]
    command = [*PARALLELAI, "run", "--monitor", "terminal", "-E", "latency=0.2", "-p", "3", *prompts]
    with anyio.fail_after(DEADLINE_S):
        async with terminal(command) as screen:
            await screen.wait_for(r"running \d")
            await screen.wait_for(r"done 12/12")
            screen.press("q")
            code = await screen.drain_until_exit()
            summary = await screen.wait_for(r"run (\S+) succeeded: 12/12 succeeded")
    assert code == 0
    info = read_discovery()
    assert info is not None
    async with DaemonClient(info) as client:
        run = await client.run(summary.group(1))
    assert run.state is RunState.SUCCEEDED


async def test_a_followed_run_says_when_its_daemon_is_lost_and_ends_right_once_one_is_back(
    tmp_path: Path,
) -> None:
    started, go = tmp_path / "started", tmp_path / "go"
    agent = f"touch {started}; while [ ! -e {go} ]; do sleep 0.05; done; echo done"
    command = [*PARALLELAI, "run", "--daemon", "--engine", "command", "-E", f"shell={agent}", "wait"]
    errors = bytearray()

    async def read_errors(stream: anyio.abc.ByteReceiveStream) -> None:
        async for chunk in stream:
            errors.extend(chunk)

    with anyio.fail_after(DEADLINE_S):
        async with (
            await anyio.open_process(
                command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            ) as cli,
            anyio.create_task_group() as group,
        ):
            assert cli.stderr is not None
            assert cli.stdout is not None
            group.start_soon(read_errors, cli.stderr)
            await until(started.exists, DEADLINE_S)
            killed = read_discovery()
            assert killed is not None
            os.kill(killed.pid, signal.SIGKILL)
            lost_url = killed.url

            await until(lambda: b"lost the daemon" in errors, DEADLINE_S)
            assert cli.returncode is None  # it waits for the daemon, it does not give up on the run
            code, output = await _parallelai(tmp_path, "serve", "--detach", "--port", "0")
            assert code == 0, output
            go.touch()
            summary = (await cli.stdout.receive()).decode()
            assert await cli.wait() == 0, errors.decode()
    text = errors.decode()
    assert f"lost the daemon at {lost_url}; waiting for it to come back" in text
    assert "`parallelai serve --detach` starts it again" in text
    assert "succeeded: 1/1 succeeded" in summary

"""DaemonClient: typed answers, errors mapped back to the ParallelAIError tree, and auto-start."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import DaemonInfo
from parallelai.client.errors import DaemonError
from parallelai.client.launcher import stop_daemon
from parallelai.errors import InputError, RunNotFoundError, TaskNotFoundError
from parallelai.events import Event, RunFinished
from parallelai.models import RunState
from tests.server._process import daemon_process
from tests.server._support import DEADLINE_S, Harness, echo_run

pytestmark = pytest.mark.anyio


def _client(daemon: Harness) -> DaemonClient:
    info = DaemonInfo(url=daemon.url, token=daemon.token, pid=os.getpid(), store="db", started_at=time.time())
    return DaemonClient(info)


async def test_the_client_runs_follows_and_inspects_a_run(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with _client(daemon) as client:
            created = await client.create_run(echo_run(3))
            types = [event.type async for event in _until_finished(client, created.id)]
            run = await client.run(created.id)
            tasks = await client.tasks(created.id)
            detail = await client.task(created.id, tasks[0].id)
            listed = await client.list_runs(RunState.SUCCEEDED)
            engines = await client.engines()
            templates = await client.templates()
            found = await client.findings(created.id)
    assert types[0] == "run.created"
    assert types[-1] == "run.finished"
    assert run.state is RunState.SUCCEEDED
    assert detail.result is not None
    assert [r.id for r in listed] == [created.id]
    assert "echo" in {engine.name for engine in engines}
    assert "code_review" in {template.name for template in templates}
    assert (found.run_id, found.findings) == (created.id, [])


async def test_the_client_raises_what_the_service_would(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with _client(daemon) as client:
            with pytest.raises(RunNotFoundError):
                await client.run("r-missing")
            with pytest.raises(RunNotFoundError):
                await client.findings("r-missing")
            created = await client.create_run(echo_run(1))
            with pytest.raises(TaskNotFoundError):
                await client.task(created.id, "nope")
            with pytest.raises(InputError, match="unknown engine"):
                await client.create_run({"prompts": ["x"], "engine": "nope"})
            with pytest.raises(InputError, match="promtps"):
                await client.create_run({"promtps": ["x"]})


async def test_a_client_with_a_wrong_token_gets_a_daemon_error(daemon: Harness) -> None:
    info = DaemonInfo(url=daemon.url, token="wrong", pid=os.getpid(), store="db", started_at=time.time())
    with anyio.fail_after(DEADLINE_S):
        async with DaemonClient(info) as client:
            with pytest.raises(DaemonError) as raised:
                await client.health()
    assert raised.value.status == 401


async def test_connect_without_a_daemon_says_how_to_start_one() -> None:
    with pytest.raises(DaemonError, match="parallelai serve --detach"):
        await DaemonClient.connect()


async def test_connect_can_start_a_daemon_when_none_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARALLELAI_STORE", str(tmp_path / "db.sqlite"))
    with anyio.fail_after(DEADLINE_S):
        try:
            async with await DaemonClient.connect(start=True) as client:
                health = await client.health()
                assert health.pid == client.info.pid != os.getpid()
        finally:
            await stop_daemon()


async def _until_finished(client: DaemonClient, run_id: str) -> AsyncIterator[Event]:
    async for event in client.events(run_id):
        yield event
        if isinstance(event, RunFinished):
            return


async def test_a_client_follows_a_restarted_daemon_to_its_new_port_and_token(tmp_path: Path) -> None:
    store = tmp_path / "db.sqlite"
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(store) as first:
            client = DaemonClient(first.info)
            assert not await client.rediscover()  # where it already is
        async with client, daemon_process(store) as second:
            assert await client.rediscover()
            assert client.info == second.info
            assert await client.list_runs() == []  # with the new daemon's token

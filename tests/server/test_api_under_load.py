"""The API under load: one trip to the store for the run list, a hang-up costs one log line, and
nothing an event stream or a run used is held once they are over (structure, never wall time:
the timings are bench/api_load.py's)."""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from parallelai.events import RunFinished, RunStarted
from parallelai.orchestration.store import Store
from parallelai.server.http.routes_events import _FrameCache
from parallelai.wire import RunCreated, RunOut
from tests.server._support import DEADLINE_S, Harness, collect_events, echo_run, parse

pytestmark = pytest.mark.anyio


async def _finished_run(daemon: Harness, count: int, **extra: Any) -> str:
    run_id = parse(
        await daemon.http.post("/v1/runs", json=echo_run(count, engine="echo", **extra)), RunCreated
    ).id
    await daemon.service.wait(run_id)
    return run_id


async def test_the_run_list_is_one_trip_to_the_store_and_matches_each_run(
    daemon: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    with anyio.fail_after(DEADLINE_S):
        ids = [await _finished_run(daemon, 5 + index) for index in range(4)]
        trips: list[Callable[..., Any]] = []
        read = Store._read

        async def counted(store: Store, query: Callable[..., Any]) -> Any:
            trips.append(query)
            return await read(store, query)

        monkeypatch.setattr(Store, "_read", counted)
        listed = parse(await daemon.http.get("/v1/runs?limit=50"), list[RunOut])
        monkeypatch.undo()
        one_by_one = [parse(await daemon.http.get(f"/v1/runs/{run_id}"), RunOut) for run_id in ids]
    assert len(trips) == 1
    assert [run.id for run in listed] == ids[::-1]
    for run, alone in zip(listed[::-1], one_by_one, strict=True):
        assert run == alone
        assert run.total > 0


def _hang_up_mid_replay(url: str, token: str) -> int:
    """Ask for every event from the start, read the first bytes, then reset the connection (what
    a killed client or a dropped network does), while the daemon is still sending the replay."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=DEADLINE_S) as client:
        request = (
            f"GET /v1/events?after=0 HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        client.sendall(request.encode())
        received = 0
        while received < 20_000:
            chunk = client.recv(4096)
            if not chunk:
                break
            received += len(chunk)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
    return received


async def test_a_client_that_hangs_up_mid_replay_is_one_log_line(
    daemon: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with anyio.fail_after(DEADLINE_S):
        await _finished_run(daemon, 1500)  # about 6,000 events to replay
        caplog.set_level(logging.INFO)
        caplog.clear()
        received = await anyio.to_thread.run_sync(_hang_up_mid_replay, daemon.url, daemon.token)
        await daemon.streams.wait_until(lambda streams: streams.open == 0)
    assert received >= 20_000
    lines = [record for record in caplog.records if not record.name.startswith("httpx")]
    assert [record.getMessage() for record in lines] == ["an event-stream client of /v1/events disconnected"]


async def test_nothing_is_held_for_a_stream_or_a_run_once_both_are_over(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = await _finished_run(daemon, 200)
        events = await collect_events(
            daemon.http, f"/v1/runs/{run_id}/events", lambda e: isinstance(e, RunFinished)
        )
        await daemon.streams.wait_until(lambda streams: streams.open == 0)
        # The monitors follow every event from inside the daemon; nothing else may be subscribed.
        followers = daemon.service.bus.subscriber_count
        await _finished_run(daemon, 100)
        await daemon.service.store.flush()
    assert {event.run_id for event in events} == {run_id}
    assert daemon.service.bus.subscriber_count == followers
    assert daemon.service.bus.held_events == 0
    assert daemon.service.store.pending_events == 0


def test_each_event_is_framed_once_and_the_frames_kept_are_bounded() -> None:
    cache = _FrameCache(size=10)
    event = RunStarted(run_id="r1", seq=1)
    first = cache.frame(event)
    assert cache.frame(event) is first
    assert first == f"id: 1\r\nevent: run.started\r\ndata: {event.model_dump_json()}\r\n\r\n".encode()
    for seq in range(2, 40):
        cache.frame(RunStarted(run_id="r1", seq=seq))
    assert len(cache) == 10

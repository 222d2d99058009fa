"""SSE: typed events with seq ids, Last-Event-ID replay after a reconnect, pings, slow clients."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import anyio
import pytest

from parallelai.events import ConcurrencyChanged, Event, RunFinished, TaskStateChanged
from parallelai.models import TaskState
from parallelai.server.http.app import AppSettings
from parallelai.wire import RunCreated
from tests.server._support import DEADLINE_S, Harness, collect_events, echo_run, parse, running_app

pytestmark = pytest.mark.anyio


def _finished(run_id: str) -> object:
    return lambda event: isinstance(event, RunFinished) and event.run_id == run_id


async def test_a_client_that_reconnects_with_last_event_id_misses_nothing_and_sees_nothing_twice(
    daemon: Harness,
) -> None:
    with anyio.fail_after(DEADLINE_S):
        created = await daemon.http.post("/v1/runs", json=echo_run(30, latency=0.02))
        assert created.status_code == 201
        first = await collect_events(
            daemon.http,
            "/v1/events?after=0",
            lambda e: isinstance(e, TaskStateChanged) and e.state is TaskState.SUCCEEDED,
        )
        rest = await collect_events(
            daemon.http,
            "/v1/events",
            lambda e: isinstance(e, RunFinished),
            headers={"Last-Event-ID": str(first[-1].seq)},
        )
        stored = await daemon.service.store.events_after(0)
    seen = [event.seq for event in first + rest]
    assert seen == [event.seq for event in stored]
    assert seen == list(range(1, len(seen) + 1))


async def test_a_run_stream_replays_the_run_from_its_start_and_only_that_run(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        other = parse(await daemon.http.post("/v1/runs", json=echo_run(3)), RunCreated).id
        run_id = parse(await daemon.http.post("/v1/runs", json=echo_run(3)), RunCreated).id
        await daemon.service.wait(run_id)
        await daemon.service.wait(other)
        events = await collect_events(daemon.http, f"/v1/runs/{run_id}/events", _finished(run_id))  # type: ignore[arg-type]
        resumed = await collect_events(
            daemon.http,
            f"/v1/runs/{run_id}/events?after={events[3].seq}",
            _finished(run_id),  # type: ignore[arg-type]
        )
    assert {event.run_id for event in events} == {run_id}
    assert events[0].type == "run.created"
    assert resumed == events[4:]


async def test_the_global_stream_starts_now_unless_asked_to_replay(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        earlier = parse(await daemon.http.post("/v1/runs", json=echo_run(1)), RunCreated).id
        await daemon.service.wait(earlier)
        async with anyio.create_task_group() as group:
            seen: list[Event] = []

            async def follow() -> None:
                seen.extend(
                    await collect_events(daemon.http, "/v1/events", lambda e: isinstance(e, RunFinished))
                )

            group.start_soon(follow)
            await daemon.streams.wait_until(lambda streams: streams.open == 1)
            later = parse(await daemon.http.post("/v1/runs", json=echo_run(1)), RunCreated).id
    assert {event.run_id for event in seen} == {later}


async def test_an_idle_stream_gets_keep_alive_pings(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with daemon.http.stream("GET", "/v1/events", timeout=None) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    break


def _stalled_stream(url: str, token: str) -> socket.socket:
    """A client that asks for the event stream, then never reads: its receive window fills up."""
    host, port = url.removeprefix("http://").split(":")
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.settimeout(DEADLINE_S)  # a thread cannot be cancelled: the socket itself gives up
    client.connect((host, int(port)))
    request = f"GET /v1/events HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    client.sendall(request.encode())
    return client


def _read_to_eof(client: socket.socket) -> bytes:
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


_MESSAGE = re.compile(rb"id: (\d+)\r\nevent: [^\r]+\r\ndata: [^\r\n]*\r\n\r\n")


async def test_a_client_that_stops_reading_is_dropped_without_stalling_the_run(tmp_path: Path) -> None:
    settings = AppSettings(ping_s=0, send_timeout_s=0.3)
    body = echo_run(100) | {"engines": {"echo": {"output_size": 100_000}}}
    async with running_app(tmp_path / "db.sqlite", settings) as daemon:
        with anyio.fail_after(DEADLINE_S):
            client = await anyio.to_thread.run_sync(_stalled_stream, daemon.url, daemon.token)
            with client:
                await daemon.streams.wait_until(lambda streams: streams.open == 1)
                run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
                summary = await daemon.service.wait(run_id)  # finishes although nobody reads
                await daemon.streams.wait_until(lambda streams: streams.dropped == 1)
                received = await anyio.to_thread.run_sync(_read_to_eof, client)  # then EOF: it hung up
            seqs = [int(seq) for seq in _MESSAGE.findall(received)]
            assert summary.counts[TaskState.SUCCEEDED] == 100
            assert b"run.finished" not in received
            # Reconnecting from the last whole event received catches up on everything.
            rest = await collect_events(
                daemon.http,
                "/v1/events",
                lambda e: isinstance(e, RunFinished),
                headers={"Last-Event-ID": str(seqs[-1] if seqs else 0)},
            )
            stored = await daemon.service.store.events_after(0)
        assert seqs + [e.seq for e in rest] == [e.seq for e in stored]


async def test_an_adaptive_run_streams_its_concurrency_changes_as_their_own_event_type(
    daemon: Harness,
) -> None:
    with anyio.fail_after(DEADLINE_S):
        body = echo_run(3, strategy="intelligent")
        run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
        events = await collect_events(daemon.http, f"/v1/runs/{run_id}/events", _finished(run_id))  # type: ignore[arg-type]
    changes = [event for event in events if isinstance(event, ConcurrencyChanged)]
    assert [(change.engine, change.old, change.limit) for change in changes[:1]] == [("echo", None, 4)]

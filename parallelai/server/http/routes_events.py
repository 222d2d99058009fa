"""Server-sent events: every run's events, or one run's, replayed from the store then live.

Each SSE message carries `id: <seq>`, `event: <type>` and the event as JSON, so a client that
reconnects with `Last-Event-ID` gets exactly what it missed. A live event is sent only once the
store holds it: a client never sees a seq that a crash could take back and hand to another event.

With many clients every event goes to each of them: it is framed once (`_FrameCache`) and the
events that are ready together go out as one write, with a wait between writes, so a client that
hangs up is noticed at the next one rather than after the whole replay was written into a closed
socket (which logged a warning per event).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from parallelai.events import Event
from parallelai.orchestration.service import OrchestrationService
from parallelai.server.http.endpoint import Endpoint, read_query
from parallelai.server.http.errors import ApiError
from parallelai.wire import EventsQuery

log = logging.getLogger("parallelai.server")


class StreamStats:
    """How many event streams are open and how many slow clients were dropped (for tests and metrics)."""

    def __init__(self) -> None:
        self.open = 0
        self.dropped = 0
        self._changed = anyio.Event()

    def _change(self, opened: int = 0, dropped: int = 0) -> None:
        self.open += opened
        self.dropped += dropped
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_until(self, condition: Callable[[StreamStats], bool]) -> None:
        while not condition(self):
            await self._changed.wait()


class _EventStream(EventSourceResponse):
    """An SSE response that counts itself and drops a client which stops reading.

    The bus never waits for a subscriber; this bounds what the connection itself may hold.
    """

    def __init__(self, content: AsyncIterator[bytes], stats: StreamStats, path: str, **options: Any) -> None:
        super().__init__(content, client_close_handler_callable=self._client_left, **options)
        self._stats = stats
        self._path = path

    async def _client_left(self, message: Message) -> None:
        log.info("an event-stream client of %s disconnected", self._path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._stats._change(opened=1)
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            # uvicorn then closes the connection; the client can come back with Last-Event-ID.
            log.warning("dropped an event-stream client that stopped reading")
            self._stats._change(dropped=1)
        finally:
            self._stats._change(opened=-1)


def event_endpoints(
    service: OrchestrationService, stats: StreamStats, ping_s: float, send_timeout_s: float
) -> list[Endpoint]:
    cache = _FrameCache()

    def respond(request: Request, run_id: str | None, default_after: int) -> Response:
        after = _resume_point(request)
        frames = _frames(service, default_after if after is None else after, run_id, cache)
        return _EventStream(frames, stats, request.url.path, ping=ping_s, send_timeout=send_timeout_s)

    async def all_events(request: Request) -> Response:
        # Without a resume point the global stream starts now: replaying all history is opt-in (?after=0).
        return respond(request, None, service.bus.last_seq)

    async def run_events(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        await service.summary(run_id)  # 404 before the stream starts, not inside it
        return respond(request, run_id, 0)

    return [
        Endpoint("GET", "/v1/events", all_events, "Every run's events (SSE)", query=EventsQuery, stream=True),
        Endpoint(
            "GET",
            "/v1/runs/{run_id}/events",
            run_events,
            "One run's events from its start (SSE)",
            query=EventsQuery,
            stream=True,
            errors=(404,),
        ),
    ]


# ASCII digits only, and few enough for SQLite: `str.isdigit` passes "²", which `int` refuses.
LAST_EVENT_ID_PATTERN = r"^[ \t]*([0-9]{1,18})?[ \t]*$"
_LAST_EVENT_ID = re.compile(LAST_EVENT_ID_PATTERN)


def _resume_point(request: Request) -> int | None:
    header = request.headers.get("last-event-id")
    if header is not None:
        seq = _LAST_EVENT_ID.match(header)
        if seq is None:
            raise ApiError(400, "bad_last_event_id", "Last-Event-ID must be an event seq (a whole number)")
        if seq.group(1) is not None:
            return int(seq.group(1))
    return read_query(request, EventsQuery).after


class _FrameCache:
    """Each event's SSE frame, made once for every client that is sent it (the newest `size`)."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._frames: dict[int, bytes] = {}

    def frame(self, event: Event) -> bytes:
        found = self._frames.get(event.seq)
        if found is None:
            found = ServerSentEvent(
                data=event.model_dump_json(), event=event.type, id=str(event.seq)
            ).encode()
            if len(self._frames) >= self._size:
                del self._frames[next(iter(self._frames))]  # the oldest: clients are past it
            self._frames[event.seq] = found
        return found

    def __len__(self) -> int:
        return len(self._frames)


async def _frames(
    service: OrchestrationService, after: int, run_id: str | None, cache: _FrameCache
) -> AsyncIterator[bytes]:
    # The bus hands out only committed events, so every seq sent here is durable already. Each
    # batch is one write, and getting the next one waits (a thread's read, or the live feed).
    async with aclosing(service.bus.stream_batches(after, run_id)) as batches:
        async for batch in batches:
            yield b"".join([cache.frame(event) for event in batch])

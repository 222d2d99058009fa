"""A real HTTP model server on loopback that answers from a per-test script of neutral turns.

Life cycle: `start()` binds a socket to 127.0.0.1:0 *before* uvicorn runs (so `url` is known and
connections queue in the backlog at once), serves it from a background thread with its own event
loop (so sync and async tests can both use it), and returns when uvicorn reports it has started.
`stop()` first releases every `Hang` (they answer 503), then asks uvicorn to exit and joins the
thread.

Each model request takes the next turn: first from the first `script_for` queue whose key occurs in
the request body, else from the shared `script` queue, else `Reply("ok")`; a `FromRequest` is made
into its turn from the request's body then. Dialects own the wire formats; this module owns the
queue, the request log, the timing of `Slow` and `Hang`, and a catch-all that answers GET/HEAD on
any path with 200 (CLIs probe connectivity before working).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from tests.support.model_server.script import (
    Failure,
    FromRequest,
    Hang,
    Reply,
    Scripted,
    Slow,
    ToolCall,
    Turn,
)

Answer = Reply | ToolCall


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A model request as the server received it; `json` is None when the body was not JSON."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    json: Any
    turn: Turn = field(repr=False, default_factory=lambda: Reply("ok"))


class Rendering(Protocol):
    """How one dialect writes answers for one request (it may keep the request's model name)."""

    @property
    def media_type(self) -> str:
        """Of a streamed answer: "text/event-stream", "application/x-ndjson"."""
        ...

    def chunks(self, answer: Answer) -> Iterable[bytes]:
        """The streamed answer, one network write per chunk."""
        ...

    def body(self, answer: Answer) -> Any:
        """The whole answer as one JSON document, for a request that did not ask to stream."""
        ...

    def error(self, failure: Failure) -> Any:
        """The JSON error document for `failure`."""
        ...


class Dialect(Protocol):
    """One provider's API: its routes, whose handlers call `server.take` and `server.respond`."""

    name: str

    def routes(self, server: ScriptedModelServer) -> Sequence[BaseRoute]: ...


class ScriptedModelServer:
    """A loopback model server speaking every given dialect at once."""

    def __init__(self, dialects: Sequence[Dialect], *, host: str = "127.0.0.1") -> None:
        self._dialects = list(dialects)
        self._host = host
        self._lock = threading.Condition()
        self._shared: deque[Scripted] = deque()
        self._keyed: dict[str, deque[Scripted]] = {}
        self._requests: list[RecordedRequest] = []
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._server: _Uvicorn | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._released: asyncio.Event | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None

    # -- the script ---------------------------------------------------------------------------

    def script(self, *turns: Scripted) -> None:
        """Queue turns for whichever model request comes next."""
        with self._lock:
            self._shared.extend(turns)

    def script_for(self, key: str, *turns: Scripted) -> None:
        """Queue turns for requests whose body contains `key` (e.g. a marker in one task's prompt)."""
        with self._lock:
            self._keyed.setdefault(key, deque()).extend(turns)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the model requests received so far, oldest first (probes are not listed)."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until `count` model requests have arrived; raise TimeoutError after `timeout`."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"the model server got {len(self._requests)} requests, expected {count}")
            return list(self._requests)

    # -- what dialect handlers call -------------------------------------------------------------

    async def take(self, request: Request) -> tuple[RecordedRequest, Turn]:
        """Record `request` and hand back the turn it consumes."""
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        text = raw.decode("utf-8", errors="replace")
        with self._lock:
            turn = _made(self._next_turn(text), text)
            recorded = RecordedRequest(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                headers=dict(request.headers),
                json=body,
                turn=turn,
            )
            self._requests.append(recorded)
            self._lock.notify_all()
        return recorded, turn

    async def respond(self, turn: Turn, rendering: Rendering, *, stream: bool) -> Response:
        """Render `turn` with the dialect's `rendering`, taking care of failures, delays and hangs."""
        delay = 0.0
        while isinstance(turn, Slow):
            delay, turn = delay + turn.chunk_delay_s, turn.turn
        if isinstance(turn, Hang):
            await self._wait_released()
            return JSONResponse({"error": "the scripted model server is stopping"}, status_code=503)
        if isinstance(turn, Failure):
            await anyio.sleep(delay)
            return JSONResponse(rendering.error(turn), status_code=turn.status, headers=turn.headers)
        if not stream:
            await anyio.sleep(delay)
            return JSONResponse(rendering.body(turn))
        return StreamingResponse(
            _paced(rendering.chunks(turn), delay),
            media_type=rendering.media_type,
            headers={"cache-control": "no-cache"},
        )

    # -- life cycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._socket is None:
            raise RuntimeError("the model server is not started")
        port = self._socket.getsockname()[1]
        return f"http://{self._host}:{port}"

    def start(self, timeout: float = 10.0) -> ScriptedModelServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        sock.listen(128)
        self._socket = sock
        routes: list[BaseRoute] = [route for dialect in self._dialects for route in dialect.routes(self)]
        # Last, so a dialect's own GET routes (model lists, tags) win over the probe answer.
        routes.append(Route("/{path:path}", _probe, methods=["GET", "HEAD"]))
        config = uvicorn.Config(
            Starlette(routes=routes),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,  # a client that never reads its stream cannot block stop()
        )
        self._server = _Uvicorn(config, on_started=self._on_started)
        self._thread = threading.Thread(target=self._serve, name="scripted-model-server", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout) or self._failure is not None:
            self.stop()
            raise RuntimeError(f"the scripted model server did not start: {self._failure!r}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        loop, released, server = self._loop, self._released, self._server
        if loop is not None and released is not None and not loop.is_closed():
            loop.call_soon_threadsafe(released.set)
        if server is not None:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------------

    def _next_turn(self, body_text: str) -> Scripted:
        for key, queue in self._keyed.items():
            if queue and key in body_text:
                return queue.popleft()
        return self._shared.popleft() if self._shared else Reply("ok")

    def _on_started(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._released = asyncio.Event()
        self._started.set()

    async def _wait_released(self) -> None:
        assert self._released is not None
        await self._released.wait()

    def _serve(self) -> None:
        assert self._server is not None
        assert self._socket is not None
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as error:  # reported to start(); a thread cannot raise to the test
            self._failure = error
        finally:
            self._started.set()


class _Uvicorn(uvicorn.Server):
    """uvicorn, telling us when it is ready (off the main thread it leaves signals alone)."""

    def __init__(self, config: uvicorn.Config, *, on_started: Any) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._on_started()


def _made(scripted: Scripted, body_text: str) -> Turn:
    if not isinstance(scripted, FromRequest):
        return scripted
    try:
        return scripted.make(body_text)
    except Exception as error:  # the test reads it in the client's error, not in a server thread's log
        return Failure(500, f"the scripted turn could not be made from the request: {error!r}")


async def _paced(chunks: Iterable[bytes], delay: float) -> AsyncIterator[bytes]:
    first = True
    for chunk in chunks:
        if delay and not first:
            await anyio.sleep(delay)
        first = False
        yield chunk


async def _probe(request: Request) -> Response:
    return JSONResponse({}) if request.method == "GET" else Response(status_code=200)

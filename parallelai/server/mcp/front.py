"""The MCP stdio server's first second: answered at once, without the MCP SDK and without the daemon.

An assistant starts `parallelai mcp` and sends `initialize` and `tools/list` straight away; Claude
Code in print mode asks its model about 3 s later whether the server has answered or not. Importing
the MCP SDK alone takes about 0.6 s and reaching (or starting) the daemon 1 to 9 s. So the front answers
the handshake and the lists of tools, prompts and resources from the manifest — recorded from the
real server and kept equal to it by a test — while its `Link` (the daemon's `/mcp`, or a server in
this process with `--embedded`) comes up in the background. Every other message is relayed to the
link once it is up, in order, and the link's messages come back unchanged. A request the link cannot
take (it did not come up, or went away) is answered with the reason; the next one tries again.

Only the standard library and anyio are imported here: this module is on the path to the first answer.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, BinaryIO, Protocol

import anyio

from parallelai.errors import sole_exception
from parallelai.server.mcp.manifest import Manifest

JsonObject = dict[str, Any]
log = logging.getLogger("parallelai.mcp")

HANDSHAKE_ID = "parallelai-front/initialize"  # the front's own initialize, replayed on each link
PARSE_ERROR, INTERNAL_ERROR = -32700, -32603


class LinkUnavailable(Exception):
    """The link did not come up. The message says why and what to do: the assistant reads it."""


class LinkGone(Exception):
    """The link found, before sending `message`, that its server is no longer there: nothing was sent,
    so the message can go to the next link as it is."""

    def __init__(self, message: JsonObject) -> None:
        super().__init__("the server of this link is gone")
        self.message = message


class Link(Protocol):
    """JSON-RPC messages to and from what serves the tools, as plain dicts."""

    async def send(self, message: JsonObject) -> None:
        """Send `message`; raise `LinkGone` (sending nothing) when the server is known to be gone."""
        ...

    async def receive(self) -> JsonObject | None:
        """The next message; None once the other side has ended the session."""
        ...


OpenLink = Callable[[], AbstractAsyncContextManager[Link]]


class StdioFront:
    """One client session on stdin/stdout, in front of the links `open_link` makes, one at a time."""

    def __init__(
        self, manifest: Manifest, open_link: OpenLink, run_defaults: JsonObject | None = None
    ) -> None:
        self._manifest = manifest
        self._open_link = open_link
        # `start_run` arguments this session's user configured (`parallelai mcp --engine …`, e.g.
        # from the Claude Code plugin's options): they fill what a call leaves out. The daemon is
        # shared by every session, so a session's own defaults are applied here, at its edge.
        self._run_defaults = run_defaults or {}
        # The client's initialize params, once it has sent them: each link gets the same handshake.
        # A client of the stateless (2026) protocol never sends them; its requests stand alone.
        self._client_init: JsonObject | None = None
        self._awaiting: dict[Any, str] = {}  # request id → method, relayed and not answered yet
        self._outbox, self._wire_queue = anyio.create_memory_object_stream[JsonObject](math.inf)
        self._for_link, self._link_inbox = anyio.create_memory_object_stream[JsonObject](math.inf)

    async def serve(self, wire_in: BinaryIO, wire_out: BinaryIO) -> None:
        """Serve until the client closes stdin (how an MCP client ends a stdio session)."""
        async with anyio.create_task_group() as writing:
            writing.start_soon(self._write, wire_out)
            async with anyio.create_task_group() as linking:
                linking.start_soon(self._keep_linked)
                await self._read(wire_in)
                linking.cancel_scope.cancel()
            self._outbox.close()  # the writer sends what is queued, then ends

    # -- the client's side ---------------------------------------------------------------------

    async def _read(self, wire_in: BinaryIO) -> None:
        # A blocked read cannot be interrupted: on SIGTERM the thread is left behind, not waited for.
        while line := await anyio.to_thread.run_sync(wire_in.readline, abandon_on_cancel=True):
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if not isinstance(message, dict):
                self._reply_error(None, PARSE_ERROR, "not a JSON-RPC message (one JSON object per line)")
                continue
            self._take(message)

    def _take(self, message: JsonObject) -> None:
        method = message.get("method")
        is_request = isinstance(method, str) and "id" in message
        if is_request and method == "initialize":
            self._client_init = message.get("params") or {}
            self._reply(message["id"], self._manifest.initialize(self._client_init.get("protocolVersion")))
            self._for_link.send_nowait(self._handshake())  # in order: what follows needs the session
        elif is_request and self._client_init is not None and (answer := self._manifest.answer(method)):
            self._reply(message["id"], answer)
        elif method == "notifications/initialized":
            pass  # each link gets its own, after its own handshake
        else:
            if is_request and method == "tools/call":
                self._fill_run_defaults(message)
            self._for_link.send_nowait(message)

    def _fill_run_defaults(self, call: JsonObject) -> None:
        params = call.get("params")
        if not self._run_defaults or not isinstance(params, dict) or params.get("name") != "start_run":
            return
        arguments = params.get("arguments")
        if arguments is None:
            arguments = params["arguments"] = {}
        if isinstance(arguments, dict):
            for key, value in self._run_defaults.items():
                if arguments.get(key) is None:
                    arguments[key] = value

    def _handshake(self) -> JsonObject:
        return {"jsonrpc": "2.0", "id": HANDSHAKE_ID, "method": "initialize", "params": self._client_init}

    def _reply(self, request_id: Any, result: JsonObject) -> None:
        self._outbox.send_nowait({"jsonrpc": "2.0", "id": request_id, "result": result})

    def _reply_error(self, request_id: Any, code: int, text: str) -> None:
        self._outbox.send_nowait(
            {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": text}}
        )

    def _refuse(self, request_id: Any, method: str, reason: str) -> None:
        if method == "tools/call":
            # A tool error, not a protocol error: assistants show its text to the model.
            self._reply(request_id, {"content": [{"type": "text", "text": reason}], "isError": True})
        else:
            self._reply_error(request_id, INTERNAL_ERROR, reason)

    async def _write(self, wire_out: BinaryIO) -> None:
        def write(line: bytes) -> None:
            wire_out.write(line)
            wire_out.flush()

        async with self._wire_queue:
            async for message in self._wire_queue:
                line = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                await anyio.to_thread.run_sync(write, line, abandon_on_cancel=True)

    # -- the link's side -----------------------------------------------------------------------

    async def _keep_linked(self) -> None:
        """Bring a link up at once, relay through it; after a failure, try again at the next message."""
        held: JsonObject | None = None  # taken from the client while no link was up
        while True:
            try:
                async with self._open_link() as link:
                    await _Relay(self, link).run(held)
                return  # not reached: the client closing stdin cancels this task
            except Exception as error:
                failure = _main_failure(error)
            if isinstance(failure, LinkGone):
                # Its server went away (a daemon stopped or restarted) before this message was sent:
                # what it was already working on is lost, this message is not. A new link takes it.
                reason = "the parallelai daemon stopped while this request was being answered"
                self._refuse_awaiting(reason)
                held = failure.message
                continue
            reason = _reason(failure)
            log.warning("%s", reason)
            self._refuse_awaiting(reason)
            if held is not None:
                self._refuse_message(held, reason)
            try:
                held = await self._link_inbox.receive()
            except anyio.EndOfStream:
                return

    def _refuse_awaiting(self, reason: str) -> None:
        for request_id, method in self._awaiting.items():
            self._refuse(request_id, method, reason)
        self._awaiting.clear()

    def _refuse_message(self, message: JsonObject, reason: str) -> None:
        method = message.get("method")
        if isinstance(method, str) and "id" in message and message["id"] != HANDSHAKE_ID:
            self._refuse(message["id"], method, reason)


class _Relay:
    """One link's life: its handshake (when the client made one), then messages both ways."""

    def __init__(self, front: StdioFront, link: Link) -> None:
        self._front = front
        self._link = link
        self._handshake_answered: anyio.Event | None = None
        self._initialized = False

    async def run(self, held: JsonObject | None) -> None:
        front = self._front
        async with anyio.create_task_group() as group:
            group.start_soon(self._from_link)
            if front._client_init is not None:  # a link after the first: the session is re-made first
                await self._to_link(front._handshake())
            if held is not None:
                await self._to_link(held)
            async for message in front._link_inbox:
                await self._to_link(message)
            group.cancel_scope.cancel()

    async def _to_link(self, message: JsonObject) -> None:
        if message.get("id") == HANDSHAKE_ID:
            if self._initialized:
                return
            # Nothing else may go before the answer: over HTTP it carries the session id.
            self._handshake_answered = anyio.Event()
            await self._link.send(message)
            await self._handshake_answered.wait()
            await self._link.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            self._initialized = True
            return
        is_request = isinstance(message.get("method"), str) and "id" in message
        if is_request:
            self._front._awaiting[message["id"]] = message["method"]  # first: a failed send is answered too
        try:
            await self._link.send(message)
        except LinkGone:
            if is_request:
                del self._front._awaiting[message["id"]]  # not sent: it goes to the next link instead
            raise LinkGone(message) from None

    async def _from_link(self) -> None:
        front = self._front
        while (message := await self._link.receive()) is not None:
            if message.get("id") == HANDSHAKE_ID and "method" not in message:
                if "error" in message or self._handshake_answered is None:
                    raise LinkUnavailable(
                        f"the parallelai server refused the session: {message.get('error')}"
                    )
                self._handshake_answered.set()
                continue
            if "method" not in message:  # a response: nobody waits for this id any more
                front._awaiting.pop(message.get("id"), None)
            front._outbox.send_nowait(message)
        raise LinkUnavailable("the parallelai server ended the session (was the daemon stopped?)")


def _main_failure(error: BaseException) -> BaseException:
    """What broke a link: a `LinkGone` wherever it is in the groups (the rest follows from it), else the error."""
    if isinstance(error, BaseExceptionGroup):
        gone, _ = error.split(LinkGone)
        if gone is not None:
            return _main_failure(gone.exceptions[0])
    return sole_exception(error)


def _reason(error: BaseException) -> str:
    if isinstance(error, LinkUnavailable):
        return str(error)
    return f"parallelai's MCP server failed ({type(error).__name__}: {error}); the next call tries again"

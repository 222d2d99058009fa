"""JSON-RPC 2.0 over a pair of byte streams, one message per line (the ACP stdio transport).

Why not agent-client-protocol's connection: it reads asyncio streams and answers each message in
a task of its own, outside any task group; it does run over our anyio process through a 30-line
adapter, but its process helper neither gives the agent its own session nor stops its tree, so all
of our process code would stay, next to the SDK's 0.33 s import.

Both sides send requests: `request()` awaits the peer's answer, while requests and notifications
from the peer go to the handlers given at construction. `serve()` reads until the stream ends and
must run in a task group next to the callers; when it ends, pending requests fail with
`ConnectionClosed`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream, TaskGroup
from pydantic import BaseModel, ConfigDict, ValidationError

METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603

RequestHandler = Callable[[str, Any], Awaitable[Any]]
NotificationHandler = Callable[[str, Any], None]


class RpcError(Exception):
    """An error answer from the peer (or, raised by a handler, one we send back)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (JSON-RPC error {code})")
        self.code, self.message, self.data = code, message, data


class ConnectionClosed(Exception):
    """The peer's output ended before it answered."""


class _ErrorBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: int = INTERNAL_ERROR
    message: str = "no message"
    data: Any = None


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int | str | None = None
    method: str | None = None
    params: Any = None
    result: Any = None
    error: _ErrorBody | None = None


@dataclass
class _Pending:
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Any = None
    error: Exception | None = None


class JsonRpcConnection:
    def __init__(
        self,
        send: ByteSendStream,
        receive: ByteReceiveStream,
        on_request: RequestHandler,
        on_notification: NotificationHandler,
        *,
        max_line_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self._send, self._receive = send, receive
        self._on_request, self._on_notification = on_request, on_notification
        self._max_line = max_line_bytes
        self._pending: dict[int, _Pending] = {}
        self._next_id = 0
        self._write_lock = anyio.Lock()
        self._closed = False

    async def request(self, method: str, params: Any) -> Any:
        if self._closed:
            raise ConnectionClosed(f"cannot send {method}: the connection is closed")
        self._next_id += 1
        request_id, pending = self._next_id, _Pending()
        self._pending[request_id] = pending
        try:
            await self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            await pending.done.wait()
        finally:
            self._pending.pop(request_id, None)
        if pending.error is not None:
            raise pending.error
        return pending.result

    async def notify(self, method: str, params: Any) -> None:
        await self._write({"jsonrpc": "2.0", "method": method, "params": params})

    async def serve(self, group: TaskGroup) -> None:
        """Read messages until the stream ends; peer requests are answered from tasks in `group`."""
        buffer = b""
        try:
            async for chunk in self._receive:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._dispatch(line, group)
                if len(buffer) > self._max_line:
                    buffer = b""  # one runaway line: drop it rather than hold it all
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            self._closed = True
            for pending in self._pending.values():
                pending.error = ConnectionClosed("the agent's output ended before it answered")
                pending.done.set()

    def _dispatch(self, line: bytes, group: TaskGroup) -> None:
        if not line.strip():
            return
        try:
            message = _Message.model_validate_json(line)
        except ValidationError:
            return  # not JSON-RPC (a stray log line on stdout): nothing to answer
        if message.method is not None and message.id is not None:
            group.start_soon(self._answer, message.id, message.method, message.params)
        elif message.method is not None:
            self._on_notification(message.method, message.params)
        elif isinstance(message.id, int) and message.id in self._pending:
            pending = self._pending[message.id]
            if message.error is not None:
                pending.error = RpcError(message.error.code, message.error.message, message.error.data)
            else:
                pending.result = message.result
            pending.done.set()

    async def _answer(self, request_id: int | str, method: str, params: Any) -> None:
        try:
            result = await self._on_request(method, params)
            reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "result": result}
        except RpcError as error:
            reply = {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": error.code, "message": error.message},
            }
        # If the agent is gone, nobody waits for this answer.
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await self._write(reply)

    async def _write(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        async with self._write_lock:
            await self._send.send(data)

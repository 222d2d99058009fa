"""The daemon's event streams as messages: server-sent events read from an httpx response by httpx-sse.

httpx-sse splits lines on CR and LF only, as the SSE spec says; `httpx.Response.aiter_lines()` also
splits on U+2028, U+0085 and the other `str.splitlines()` breaks, which the daemon sends unescaped
inside an event's JSON (pydantic writes them raw), so an agent's output holding one cut its event in two.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

import httpx
from httpx_sse import EventSource


@dataclass(frozen=True, slots=True)
class SseMessage:
    event: str
    data: str
    id: str | None


async def sse_messages(response: httpx.Response) -> AsyncIterator[SseMessage]:
    """Messages as they arrive; comments (keep-alive pings) are skipped.

    Raises `httpx_sse.SSEError` (an `httpx.TransportError`) when the response is not an event stream.
    """
    async with aclosing(EventSource(response).aiter_sse()) as events:
        async for event in events:
            # httpx-sse also dispatches a block without data once any id was seen (a keep-alive
            # after the first event: httpx-sse issue #35); the spec dispatches nothing for it.
            if event.data:
                yield SseMessage(event.event, event.data, event.id or None)

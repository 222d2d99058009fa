"""A minimal server-sent-events reader over an httpx response (the parts of the spec we emit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx


@dataclass(frozen=True, slots=True)
class SseMessage:
    event: str
    data: str
    id: str | None


async def sse_messages(response: httpx.Response) -> AsyncIterator[SseMessage]:
    """Messages as they arrive; comments (keep-alive pings) are skipped."""
    event, data, last_id = "message", list[str](), None
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield SseMessage(event, "\n".join(data), last_id)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            last_id = value

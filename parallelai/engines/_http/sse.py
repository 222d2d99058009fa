"""Server-sent events: turn a stream of text lines into events, as the WHATWG spec reads them."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str  # "message" when the server named no event type, as the spec says
    data: str  # the `data:` lines of one event, joined by newlines
    id: str | None = None


async def aiter_sse(lines: AsyncIterable[str]) -> AsyncIterator[ServerSentEvent]:
    """Yield one event per blank-line-terminated block of `lines` (e.g. `httpx.Response.aiter_lines()`).

    Comments (`:` lines, used as keep-alives) are skipped; an event without data is not dispatched;
    a last block that the server did not terminate is still delivered, since some servers end the
    stream right after the final `data:` line.
    """
    event, data, last_id = "", list[str](), None
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data), last_id)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        elif field == "id":
            last_id = value
    if data:
        yield ServerSentEvent(event or "message", "\n".join(data), last_id)

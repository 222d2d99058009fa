"""Server-sent events: turn a stream of text lines into events, as the WHATWG spec reads them.

Why not httpx-sse: its public API reads a whole `httpx.Response`, not lines, and it drops a last event
that the server did not end with a blank line, which some providers do (the daemon's own streams,
which always end their events, are read with it in `parallelai/client/sse.py`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str  # "message" when the server named no event type, as the spec says
    data: str  # the `data:` lines of one event, joined by newlines
    id: str | None = None


async def aiter_sse(lines: AsyncIterable[str]) -> AsyncIterator[ServerSentEvent]:
    """Yield one event per blank-line-terminated block of `lines` (from `sse_lines`).

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


async def sse_lines(chunks: AsyncIterable[str]) -> AsyncIterator[str]:
    """The lines of a text stream (`httpx.Response.aiter_text()`), ended as SSE ends them: CRLF, LF
    or CR only. `httpx.Response.aiter_lines()` also ends a line at U+2028, U+2029 and U+0085,
    which a model's answer may hold raw inside a `data:` line's JSON, cutting its event in two."""
    buffer = ""
    async for chunk in chunks:
        buffer += chunk
        start = 0
        for end in _LINE_END.finditer(buffer):
            if end.group() == "\r" and end.end() == len(buffer):
                break  # perhaps the first half of a CRLF split across chunks: wait for the next one
            yield buffer[start : end.start()]
            start = end.end()
        buffer = buffer[start:]
    if buffer:
        yield buffer.removesuffix("\r")

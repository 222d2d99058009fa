"""The SSE reader the daemon's clients use: messages split on CR/LF only, keep-alives skipped."""

from __future__ import annotations

import httpx
import pytest

from parallelai.client.sse import SseMessage, sse_messages

pytestmark = pytest.mark.anyio


async def read(body: str) -> list[SseMessage]:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=body.encode())

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client,
        client.stream("GET", "http://daemon/v1/events") as response,
    ):
        return [message async for message in sse_messages(response)]


async def test_data_holding_unicode_line_separators_arrives_whole() -> None:
    # pydantic writes U+2028 and U+0085 raw into the JSON; only CR and LF end an SSE line.
    data = '{"text":"a\u2028b\u0085c"}'

    messages = await read(f"id: 1\r\nevent: task.output\r\ndata: {data}\r\n\r\n")

    assert messages == [SseMessage("task.output", data, "1")]


async def test_keep_alives_after_an_event_with_an_id_yield_nothing() -> None:
    messages = await read("id: 1\ndata: a\n\n: ping\n\n: ping\n\ndata: b\n\n")

    assert messages == [SseMessage("message", "a", "1"), SseMessage("message", "b", "1")]


async def test_a_message_cut_off_by_the_end_of_the_stream_is_not_delivered() -> None:
    messages = await read('id: 1\ndata: {"seq": 1}\n\nid: 2\ndata: {"se')

    assert [message.id for message in messages] == ["1"]

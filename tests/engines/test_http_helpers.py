"""The shared HTTP helpers of the API engines: SSE parsing, waits from headers, prices."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from parallelai.engines._http.errors import kind_for_status, parse_duration, retry_after
from parallelai.engines._http.sse import ServerSentEvent, aiter_sse, sse_lines
from parallelai.engines._pricing import GEMINI_PRICES, OPENAI_PRICES, ModelPrice, PriceTable
from parallelai.models import ErrorKind


async def collect(lines: list[str]) -> list[ServerSentEvent]:
    async def source() -> AsyncIterator[str]:
        for line in lines:
            yield line

    return [event async for event in aiter_sse(source())]


@pytest.mark.anyio
async def test_sse_events_are_split_on_blank_lines_and_keep_their_type_and_id() -> None:
    events = await collect(
        ["event: ping", "data: {}", "", ": keep-alive", "id: 7", "data: a", "data: b", "", ""]
    )
    assert events == [ServerSentEvent("ping", "{}"), ServerSentEvent("message", "a\nb", "7")]


@pytest.mark.anyio
async def test_an_unterminated_last_sse_event_is_still_delivered() -> None:
    assert await collect(["data: [DONE]"]) == [ServerSentEvent("message", "[DONE]")]


async def _chunks(*chunks: str) -> AsyncIterator[str]:
    for chunk in chunks:
        yield chunk


@pytest.mark.anyio
async def test_an_answer_holding_unicode_line_separators_arrives_in_one_event() -> None:
    """U+2028, U+2029 and U+0085 end lines for `str.splitlines` (and httpx's `aiter_lines`), not for SSE."""
    text = 'data: {"text": "a\u2028b\u2029c\x85d"}\n\n'
    events = [event async for event in aiter_sse(sse_lines(_chunks(text[:9], text[9:])))]
    assert events == [ServerSentEvent("message", '{"text": "a\u2028b\u2029c\x85d"}')]


@pytest.mark.anyio
async def test_sse_lines_end_at_crlf_lf_or_cr_even_when_a_crlf_is_split_across_chunks() -> None:
    lines = [line async for line in sse_lines(_chunks("a\r", "\nb\rc\n", "\r\nd"))]
    assert lines == ["a", "b", "c", "", "d"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3", 3.0),
        ("1.5", 1.5),
        ("20ms", 0.02),
        ("6m0s", 360.0),
        ("1h2m3.5s", 3723.5),
        ("soon", None),
        ("", None),
    ],
)
def test_durations_are_read_as_plain_seconds_or_go_style(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_retry_after_prefers_the_explicit_header_then_the_longest_reset() -> None:
    assert retry_after({"Retry-After-Ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after({"retry-after": "9", "x-ratelimit-reset-requests": "1m"}) == 9.0
    assert retry_after({"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "1m30s"}) == 90.0
    assert retry_after({"retry-after": "Wed, 25 Nov 2026 05:00:30 GMT"}, now=1795582800.0) == 30.0
    assert retry_after({}) is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, ErrorKind.BAD_REQUEST), (401, ErrorKind.AUTH), (429, ErrorKind.RATE_LIMITED),
     (500, ErrorKind.TRANSIENT), (529, ErrorKind.OVERLOADED), (418, ErrorKind.BAD_REQUEST)],
)  # fmt: skip
def test_statuses_map_to_error_kinds(status: int, kind: ErrorKind) -> None:
    assert kind_for_status(status) is kind


def test_prices_match_dated_model_names_by_their_longest_known_prefix() -> None:
    table = PriceTable(OPENAI_PRICES, {"gpt-4.1": ModelPrice(input=1.0, output=1.0)})
    assert table.price("gpt-4.1-mini-2025-04-14") == OPENAI_PRICES["gpt-4.1-mini"]
    assert table.price("gpt-4.1-2025-04-14") == ModelPrice(input=1.0, output=1.0)  # the override wins
    assert table.usage("unknown-model", 10, 10).cost_usd == 0.0


def test_list_prices_come_from_genai_prices_bundled_data_and_own_prices_win() -> None:
    from genai_prices.data_snapshot import get_snapshot

    own = {"gpt-4o": ModelPrice(input=9.0, output=9.0), "o3": ModelPrice(input=1.0, output=1.0)}
    table = PriceTable(OPENAI_PRICES, own)
    assert table.price("o3-mini-2025-01-31") == ModelPrice(input=1.1, output=4.4)  # the list's o3-mini
    assert table.price("o3-2025-04-16") == own["o3"]
    assert table.price("gpt-4o") == own["gpt-4o"]
    assert GEMINI_PRICES["gemini-2.5-flash"] == ModelPrice(input=0.3, output=2.5)
    assert not get_snapshot().from_auto_update  # nothing was fetched: the data shipped with the package


def test_a_secret_split_across_stream_deltas_is_masked_and_nothing_else_is_held_back() -> None:
    from parallelai.engines._redaction import MASK, Redactor
    from parallelai.engines.base import EngineEvent, TextDelta

    seen: list[EngineEvent] = []
    scrub = Redactor(["sk-secret-123456"]).stream(seen.append)
    for delta in ["the key is sk-se", "cret-12", "3456 and sk", " is not one"]:
        scrub(TextDelta(delta))
    scrub.flush()

    text = "".join(event.text for event in seen if isinstance(event, TextDelta))
    assert text == f"the key is {MASK} and sk is not one"
    assert seen[0] == TextDelta("the key is ")  # only what could begin the key waited

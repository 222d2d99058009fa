"""Reading providers' rate-limit headers and error bodies."""

from __future__ import annotations

import math

import pytest

from parallelai.ratelimits import Window, gemini_retry_delay, read_headers, requested_wait
from parallelai.ratelimits.account import account_for

NOW = 1893456000.0  # 2030-01-01T00:00:00Z


def test_anthropic_headers_give_each_window_with_its_rfc3339_reset() -> None:
    reading = read_headers(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-requests-reset": "2030-01-01T00:00:01Z",
            "anthropic-ratelimit-input-tokens-limit": "30000",
            "anthropic-ratelimit-input-tokens-remaining": "29000",
            "anthropic-ratelimit-input-tokens-reset": "2030-01-01T00:00:02+00:00",
            "anthropic-ratelimit-output-tokens-limit": "8000",
            "anthropic-ratelimit-tokens-remaining": "12",
        },
        now=NOW,
    )

    assert reading["requests"] == Window(50, 49, 1.0)
    assert reading["input_tokens"] == Window(30000, 29000, 2.0)
    assert reading["output_tokens"] == Window(8000, None, None)
    assert reading["tokens"] == Window(None, 12, None)
    assert reading["requests"].per_minute == 50


def test_openai_headers_give_requests_and_tokens_with_duration_resets() -> None:
    reading = read_headers(
        {
            "X-RateLimit-Limit-Requests": "3000",
            "x-ratelimit-remaining-requests": "2999",
            "x-ratelimit-reset-requests": "20ms",
            "x-ratelimit-limit-tokens": "250000",
            "x-ratelimit-remaining-tokens": "249000",
            "x-ratelimit-reset-tokens": "6m0s",
        }
    )

    assert reading["requests"] == Window(3000, 2999, 0.02)
    assert reading["tokens"] == Window(250000, 249000, 360.0)
    assert reading["requests"].per_minute == 3000


def test_no_rate_limit_headers_read_as_nothing() -> None:
    assert read_headers({"content-type": "text/event-stream", "x-ratelimit-limit-requests": "lots"}) == {}


def test_a_daily_limit_in_the_per_minute_header_is_told_apart_by_how_slowly_it_refills() -> None:
    # Groq publishes requests per day here: 30 used of 14,400 come back in about 3 minutes.
    daily = Window(limit=14_400, remaining=14_370, reset_s=179.6)

    assert daily.period_s == 86_400
    assert daily.per_minute == pytest.approx(10)
    assert Window(limit=14_400, remaining=14_400, reset_s=0).per_minute == 14_400  # unused: per minute


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "9", "x-ratelimit-reset-requests": "1m"}, 9.0),
        ({"x-ratelimit-reset-requests": "1m", "x-ratelimit-reset-tokens": "2s"}, 60.0),
        ({"retry-after": "Tue, 01 Jan 2030 00:00:30 GMT"}, 30.0),
        ({"content-type": "application/json"}, None),
    ],
)
def test_the_requested_wait_prefers_the_most_precise_hint(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert requested_wait(headers, now=NOW) == seconds


def test_an_infinite_retry_after_is_kept_for_the_ceiling_to_refuse() -> None:
    assert requested_wait({"retry-after": "inf"}) == math.inf


def test_gemini_s_retry_delay_comes_from_the_retry_info_detail() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
            ],
        }
    }

    assert gemini_retry_delay(body) == 37.0
    assert gemini_retry_delay(b'{"error": {"code": 429, "details": []}}') is None
    assert gemini_retry_delay(b"<html>") is None


def test_an_account_names_its_key_by_a_hash_never_the_key() -> None:
    key = "sk-secret-0123456789abcdef"
    one, same, other = (
        account_for("openai", "https://api.openai.com/v1/", key),
        account_for("openai", "https://api.openai.com/v1", key),
        account_for("openai", "https://api.openai.com/v1", key + "x"),
    )

    assert one == same
    assert one != other
    assert key not in repr(one) + str(one)
    assert len(one.key_id) == 12

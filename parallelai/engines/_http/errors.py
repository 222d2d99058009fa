"""HTTP failures from model APIs as task errors: status to kind, and how long the provider says to wait."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

import httpx

from parallelai.models import ErrorKind, TaskError

# Providers' own "slow down" statuses (529: Anthropic overloaded) join the standard ones.
_KIND_BY_STATUS = {
    400: ErrorKind.BAD_REQUEST,
    401: ErrorKind.AUTH,
    402: ErrorKind.SPEND_LIMIT,
    403: ErrorKind.AUTH,
    404: ErrorKind.BAD_REQUEST,
    408: ErrorKind.TRANSIENT,
    409: ErrorKind.TRANSIENT,
    413: ErrorKind.BAD_REQUEST,
    422: ErrorKind.BAD_REQUEST,
    429: ErrorKind.RATE_LIMITED,
    503: ErrorKind.OVERLOADED,
    529: ErrorKind.OVERLOADED,
}

# OpenAI's reset durations look like "1s", "6m0s", "20ms", "1h2m3.5s".
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def kind_for_status(status: int) -> ErrorKind:
    if status in _KIND_BY_STATUS:
        return _KIND_BY_STATUS[status]
    return ErrorKind.TRANSIENT if status >= 500 else ErrorKind.BAD_REQUEST


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration ("6m0s", "250ms") or a plain number of seconds; None if neither."""
    text = text.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait: `retry-after-ms`, `retry-after` (seconds or HTTP date), else `x-ratelimit-reset-*`."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if (millis := lowered.get("retry-after-ms")) is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    if (value := lowered.get("retry-after")) is not None:
        seconds = parse_duration(value)
        if seconds is not None:
            return seconds
        try:
            moment = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            moment = None
        if moment is not None:
            return max(moment - (time.time() if now is None else now), 0.0)
    # Without an explicit hint, the longest reset among the exhausted windows is when a retry can work.
    resets = [
        seconds
        for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
        if (text := lowered.get(name)) is not None and (seconds := parse_duration(text)) is not None
    ]
    return max(resets) if resets else None


def error_from_response(response: httpx.Response, detail: str) -> TaskError:
    """A task error for a failed HTTP response; `detail` is the provider's message (never a secret)."""
    kind = kind_for_status(response.status_code)
    wait = retry_after(response.headers) if kind.retryable else None
    reason = response.reason_phrase or "error"
    return TaskError(
        kind=kind, message=f"HTTP {response.status_code} {reason}: {detail}"[:1000], retry_after=wait
    )

"""HTTP failures from model APIs as task errors: status to kind, and how long the provider says to wait."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from parallelai.models import ErrorKind, TaskError
from parallelai.ratelimits.headers import parse_duration, requested_wait

__all__ = ["error_from_response", "kind_for_status", "parse_duration", "retry_after"]

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


def kind_for_status(status: int) -> ErrorKind:
    if status in _KIND_BY_STATUS:
        return _KIND_BY_STATUS[status]
    return ErrorKind.TRANSIENT if status >= 500 else ErrorKind.BAD_REQUEST


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait: `retry-after-ms`, `retry-after` (seconds or HTTP date), else `x-ratelimit-reset-*`.

    Unbounded on purpose: the ceiling on what is waited out is applied where retries are decided
    (`orchestration/outcome.py`), so a hint of `inf` or a day reaches it and fails the task there."""
    return requested_wait(headers, now)


def error_from_response(response: httpx.Response, detail: str) -> TaskError:
    """A task error for a failed HTTP response; `detail` is the provider's message (never a secret)."""
    kind = kind_for_status(response.status_code)
    wait = retry_after(response.headers) if kind.retryable else None
    reason = response.reason_phrase or "error"
    return TaskError(
        kind=kind, message=f"HTTP {response.status_code} {reason}: {detail}"[:1000], retry_after=wait
    )

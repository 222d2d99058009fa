"""Anthropic API failures as error kinds, shared by the anthropic and claude-code engines.

A 429 means "wait" unless it is a spend limit (an organisation's budget or credit is exhausted),
which no retry can fix; 529 means "overloaded, back off"; 400 and 401 are fatal.
"""

from __future__ import annotations

import re

from parallelai.engines._http.errors import kind_for_status
from parallelai.models import ErrorKind

# The API reports an exhausted budget with a billing error type or in the message of a 400/429.
_SPEND_LIMIT = re.compile(
    r"credit balance|spend(?:ing)? limit|specified api usage limit|billing|payment required", re.IGNORECASE
)
_SPEND_TYPES = frozenset({"billing_error"})
_KIND_BY_TYPE = {
    "rate_limit_error": ErrorKind.RATE_LIMITED,
    "overloaded_error": ErrorKind.OVERLOADED,
    "authentication_error": ErrorKind.AUTH,
    "permission_error": ErrorKind.AUTH,
    "invalid_request_error": ErrorKind.BAD_REQUEST,
    "not_found_error": ErrorKind.BAD_REQUEST,
    "request_too_large": ErrorKind.BAD_REQUEST,
    "api_error": ErrorKind.TRANSIENT,
    "timeout_error": ErrorKind.TRANSIENT,
}


def anthropic_error_kind(status: int | None, error_type: str | None, message: str) -> ErrorKind:
    """The kind of a failed Anthropic request, from its status, error `type` and message."""
    if error_type in _SPEND_TYPES or (status in (400, 402, 403, 429) and _SPEND_LIMIT.search(message)):
        return ErrorKind.SPEND_LIMIT
    if status is not None:
        return kind_for_status(status)
    if error_type in _KIND_BY_TYPE:
        return _KIND_BY_TYPE[error_type]
    return ErrorKind.EXECUTION

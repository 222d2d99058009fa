"""The longest Retry-After parallelai waits out; a provider asking for longer fails the task instead.

A hint of a day (a daily quota spent) or `inf` would otherwise hold a task, and with the rate gate
every task of its account, for as long as the provider likes; failing says so at once.
"""

from __future__ import annotations

import math

from parallelai.models import DEFAULT_MAX_RETRY_AFTER_S

__all__ = ["DEFAULT_MAX_RETRY_AFTER_S", "beyond_ceiling", "describe_wait"]


def beyond_ceiling(wait_s: float | None, ceiling_s: float = DEFAULT_MAX_RETRY_AFTER_S) -> bool:
    """Whether a requested wait is too long to honour (non-finite waits always are)."""
    return wait_s is not None and (not math.isfinite(wait_s) or wait_s > ceiling_s)


def describe_wait(wait_s: float) -> str:
    """A wait as a person reads it: "86400 s (24.0 h)", "inf"."""
    if not math.isfinite(wait_s):
        return "forever" if wait_s > 0 else "an unreadable time"
    if wait_s >= 3600:
        return f"{wait_s:g} s ({wait_s / 3600:.1f} h)"
    return f"{wait_s:g} s"

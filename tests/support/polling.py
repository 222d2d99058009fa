"""Waiting on another process's state, which sends no event: look again every few tens of ms, under a deadline."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio

T = TypeVar("T")
POLL_S = 0.05


async def until(condition: Callable[[], T | None], within_s: float) -> T:
    """`condition()`'s first true value; TimeoutError once `within_s` passed without one."""
    with anyio.fail_after(within_s):
        while True:
            value = condition()
            if value:
                return value
            await anyio.sleep(POLL_S)

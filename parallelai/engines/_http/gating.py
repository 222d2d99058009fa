"""The rate gate as the HTTP API engines use it: which gate a request waits on, and what it tells it.

Each request is sent inside `paced(...)`, which waits on the account's gate (or on nothing, with
`rate_gate: false`); the engine reports the response with `Paced.observe` as soon as its status and
headers arrive (before the body: a probe's waiters go on at once), and its usage with `settle`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from parallelai.engines._settings import PacingSettings
from parallelai.ratelimits import RateGate, Ticket, account_for, gate_for

_CHARS_PER_TOKEN = 4  # the usual estimate for English text and code: a gate needs an order, not a count


def estimate_tokens(*texts: str | None) -> int:
    """Roughly how many tokens these texts are, to charge the gate before the provider counts."""
    return sum(len(text) for text in texts if text) // _CHARS_PER_TOKEN + 1


@dataclass(slots=True)
class Paced:
    """One request's passage through its gate (both fields None when the gate is off)."""

    gate: RateGate | None
    ticket: Ticket | None

    def observe(
        self,
        headers: Mapping[str, str],
        status: int,
        *,
        retry_after_s: float | None = None,
        refused: bool | None = None,
    ) -> None:
        if self.gate is not None:
            self.gate.observe(headers, status, retry_after_s=retry_after_s, refused=refused)

    def settle(self, input_tokens: int, output_tokens: int) -> None:
        if self.ticket is not None and (input_tokens or output_tokens):
            self.ticket.settle(input_tokens, output_tokens)


@asynccontextmanager
async def paced(
    provider: str,
    endpoint: str,
    key: str | None,
    settings: PacingSettings,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
) -> AsyncIterator[Paced]:
    """Wait until the account (`provider` at `endpoint`, with `key`) may take this request; send it
    inside the block."""
    if not settings.rate_gate:
        yield Paced(None, None)
        return
    gate = gate_for(account_for(provider, endpoint, key), settings.rate_limits.per_minute())
    async with gate.admit(input_tokens, output_tokens) as ticket:
        yield Paced(gate, ticket)

"""The running daemon's rate gates, as `parallelai engines` shows them under the engines.

The gates live in the daemon (one per provider account, shared by its runs), so only a running
daemon has any to show; without one this says nothing rather than start one.
"""

from __future__ import annotations

import time

from parallelai.client.errors import DaemonError
from parallelai.wire import RateGateOut

# The dimensions shown, in this order, and how a person names them.
_SHOWN = {
    "requests": "requests",
    "tokens": "tokens",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
}


async def rate_gate_lines() -> list[str]:
    """A heading and one line per gate of the running daemon; nothing if none runs or it has none."""
    from parallelai.client.daemon_client import DaemonClient  # the HTTP client only when it is used

    try:
        async with await DaemonClient.connect() as client:
            gates = await client.rate_gates()
    except DaemonError:
        return []
    if not gates:
        return []
    return [
        "",
        "rate gates (in the daemon, per provider account; docs/rate-limits.md):",
        *map(gate_line, gates),
    ]


def gate_line(gate: RateGateOut, now: float | None = None) -> str:
    """`openai at https://api.openai.com/v1 key 1a2b…: 480/500 requests/min, … · paused 12 s`."""
    key = f" key {gate.key_id}" if gate.key_id else ""
    limits = [
        f"{gate.remaining.get(name, gate.available.get(name, limit)):.0f}/{limit:.0f} {label}/min"
        for name, label in _SHOWN.items()
        if (limit := gate.limits.get(name)) is not None
    ]
    known = (
        ", ".join(limits) if limits else ("no limits published" if gate.learnt else "limits not known yet")
    )
    state = [f"{gate.admitted} sent", f"{gate.refused} refused (429)"]
    if gate.waiting:
        state.append(f"{gate.waiting} waiting")
    left = (gate.paused_until or 0) - (time.time() if now is None else now)
    if left > 0:
        state.append(f"paused {left:.0f} s")
    return f"  {gate.provider} at {gate.endpoint}{key}: {known} · {' · '.join(state)}"

"""Every rate gate of the process, one per provider account, shared by all its runs and tasks.

The registry lives as long as the event loop (an anyio `RunVar`): in the daemon that is the
process, so every run it executes paces against the same gates; each `anyio.run` of a script or
a test starts with none, and a gate never outlives the loop its waiters sleep in.
"""

from __future__ import annotations

from collections.abc import Mapping

from anyio.lowlevel import RunVar

from parallelai.ratelimits.account import Account
from parallelai.ratelimits.gate import GateState, RateGate
from parallelai.ratelimits.headers import Dimension


class GateRegistry:
    def __init__(self) -> None:
        self._gates: dict[Account, RateGate] = {}

    def gate_for(self, account: Account, seed: Mapping[Dimension, float] | None = None) -> RateGate:
        """The account's gate, made on first use; a `seed` (limits from settings) joins what is known
        and later responses correct it."""
        gate = self._gates.get(account)
        if gate is None:
            gate = self._gates[account] = RateGate(account, seed=seed)
        elif seed:
            gate.seed(seed)
        return gate

    def states(self) -> list[GateState]:
        return [gate.state() for gate in self._gates.values()]


_REGISTRY: RunVar[GateRegistry] = RunVar("parallelai_rate_gates")


def registry() -> GateRegistry:
    """This event loop's registry (call it from async code: engines do, inside `run`)."""
    try:
        return _REGISTRY.get()
    except LookupError:
        found = GateRegistry()
        _REGISTRY.set(found)
        return found


def gate_for(account: Account, seed: Mapping[Dimension, float] | None = None) -> RateGate:
    return registry().gate_for(account, seed)


def gate_states() -> list[GateState]:
    """The state of every gate this process has opened, for surfaces."""
    return registry().states()

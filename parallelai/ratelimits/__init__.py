"""Provider-aware pacing: one rate gate per provider account, shared by every run of the process.

- `account`: which account a request spends (provider, endpoint, a hash of the key);
- `bucket`: the token bucket a limit is paced with;
- `headers`: what providers say about their limits (headers, Gemini's `retryDelay`);
- `limits`: limits given in settings before the provider says anything;
- `gate`: `RateGate` — `admit()` before a request, `observe()` after it, `state()` for surfaces;
- `registry`: `gate_for(account)`, the process's gates;
- `ceiling`: the longest Retry-After that is waited out.

It imports nothing of parallelai's beyond itself, so engines and the orchestration core can both
use it.
"""

from parallelai.ratelimits.account import Account, account_for
from parallelai.ratelimits.ceiling import DEFAULT_MAX_RETRY_AFTER_S, beyond_ceiling
from parallelai.ratelimits.gate import GateState, RateGate, Ticket
from parallelai.ratelimits.headers import Dimension, Window, gemini_retry_delay, read_headers, requested_wait
from parallelai.ratelimits.limits import KnownLimits
from parallelai.ratelimits.registry import GateRegistry, gate_for, gate_states

__all__ = [
    "DEFAULT_MAX_RETRY_AFTER_S",
    "Account",
    "Dimension",
    "GateRegistry",
    "GateState",
    "KnownLimits",
    "RateGate",
    "Ticket",
    "Window",
    "account_for",
    "beyond_ceiling",
    "gate_for",
    "gate_states",
    "gemini_retry_delay",
    "read_headers",
    "requested_wait",
]

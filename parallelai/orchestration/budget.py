"""A run's spending against its limits: cost and tokens so far, and when a limit is reached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from parallelai.models import RunLimits, Usage


@dataclass(frozen=True, slots=True)
class Overrun:
    """A limit the spending has reached, and how to say so."""

    limit: Literal["cost", "tokens"]
    spent: float
    maximum: float
    reason: str


class Budget:
    def __init__(self, limits: RunLimits, spent: Usage | None = None) -> None:
        self._limits = limits
        self.spent = spent or Usage()  # a resumed run starts from what it had already spent

    def add(self, usage: Usage) -> Overrun | None:
        """Count `usage`; the limit reached, if the run is now at or past one (cost is checked first)."""
        self.spent = self.spent + usage
        limits, spent = self._limits, self.spent
        if limits.max_cost_usd is not None and spent.cost_usd >= limits.max_cost_usd:
            reason = f"budget reached: spent ${spent.cost_usd:.4f} of ${limits.max_cost_usd:.4f}"
            return Overrun("cost", spent.cost_usd, limits.max_cost_usd, reason)
        if limits.max_tokens is not None and spent.total_tokens >= limits.max_tokens:
            reason = f"budget reached: used {spent.total_tokens} of {limits.max_tokens} tokens"
            return Overrun("tokens", spent.total_tokens, limits.max_tokens, reason)
        return None

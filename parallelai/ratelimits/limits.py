"""Limits a user (or a documented tier) gives before the provider has said anything: the gate's seed."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from parallelai.ratelimits.headers import Dimension

_PerMinute = Annotated[float, Field(gt=0)] | None


class KnownLimits(BaseModel):
    """Per-minute limits of one account, each optional; what the provider's headers say later wins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: _PerMinute = None
    tokens_per_minute: _PerMinute = None  # input and output together (OpenAI's TPM)
    input_tokens_per_minute: _PerMinute = None  # Anthropic's ITPM
    output_tokens_per_minute: _PerMinute = None  # Anthropic's OTPM

    def per_minute(self) -> dict[Dimension, float]:
        given: dict[Dimension, float | None] = {
            "requests": self.requests_per_minute,
            "tokens": self.tokens_per_minute,
            "input_tokens": self.input_tokens_per_minute,
            "output_tokens": self.output_tokens_per_minute,
        }
        return {dimension: value for dimension, value in given.items() if value is not None}

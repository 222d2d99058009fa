"""Token prices: what a model's usage costs, from a built-in table that users extend through settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from parallelai.models import Usage

_Price = Annotated[float, Field(ge=0)]


class ModelPrice(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: _Price
    output: _Price


# List prices when this table was written; they change, so settings (`prices`) win over them.
OPENAI_PRICES: Mapping[str, ModelPrice] = {
    "gpt-5": ModelPrice(input=1.25, output=10.0),
    "gpt-5-mini": ModelPrice(input=0.25, output=2.0),
    "gpt-5-nano": ModelPrice(input=0.05, output=0.4),
    "gpt-4.1": ModelPrice(input=2.0, output=8.0),
    "gpt-4.1-mini": ModelPrice(input=0.4, output=1.6),
    "gpt-4.1-nano": ModelPrice(input=0.1, output=0.4),
    "gpt-4o": ModelPrice(input=2.5, output=10.0),
    "gpt-4o-mini": ModelPrice(input=0.15, output=0.6),
    "o3": ModelPrice(input=2.0, output=8.0),
    "o4-mini": ModelPrice(input=1.1, output=4.4),
}

GEMINI_PRICES: Mapping[str, ModelPrice] = {
    "gemini-2.5-pro": ModelPrice(input=1.25, output=10.0),
    "gemini-2.5-flash": ModelPrice(input=0.3, output=2.5),
    "gemini-2.5-flash-lite": ModelPrice(input=0.1, output=0.4),
    "gemini-2.0-flash": ModelPrice(input=0.1, output=0.4),
}


class PriceTable:
    """Looks a model up exactly, then by its longest known prefix ("gpt-4.1-2025-04-14" is "gpt-4.1")."""

    def __init__(self, *tables: Mapping[str, ModelPrice]) -> None:
        self._prices: dict[str, ModelPrice] = {}
        for table in tables:  # later tables override earlier ones
            self._prices.update(table)

    def price(self, model: str | None) -> ModelPrice | None:
        if not model:
            return None
        if model in self._prices:
            return self._prices[model]
        prefixes = [name for name in self._prices if model.startswith(name)]
        return self._prices[max(prefixes, key=len)] if prefixes else None

    def usage(self, model: str | None, input_tokens: int, output_tokens: int) -> Usage:
        """Usage with its cost; an unknown model costs 0 rather than a guess."""
        price = self.price(model)
        cost = (
            0.0 if price is None else (input_tokens * price.input + output_tokens * price.output) / 1_000_000
        )
        return Usage(input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost)

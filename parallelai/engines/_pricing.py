"""Token prices: what a model's usage costs, from genai-prices' price list with the user's prices on top.

genai-prices (pydantic's list of some 2,300 models) ships its data inside the package: nothing is
fetched at run time (its opt-in `UpdatePrices` is not used). It is imported on the first lookup, not
with this module: importing it and loading its data takes about 0.1 s, and most processes price nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from parallelai.models import Usage

_Price = Annotated[float, Field(ge=0)]
# Listed prices are read from the bill of this many tokens each way: far below every long-prompt tier
# (the lowest starts at 128k), so they are the base prices. Token counts reach us summed over many
# requests (a CLI's whole session), which says nothing about the tier of any one of them.
_PROBE_TOKENS = 1000


class ModelPrice(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: _Price
    output: _Price


class ListPrices:
    """One provider's list prices from genai-prices: `ListPrices("openai")["gpt-4.1-mini"]`."""

    def __init__(self, provider: str) -> None:
        self.provider = provider  # a genai-prices provider id: "openai", "google", "anthropic"...

    def match(self, model: str) -> tuple[str, ModelPrice] | None:
        """The listed model that `model` names (itself, a dated version, an alias) and its price."""
        return _listed(self.provider, model)

    def __getitem__(self, model: str) -> ModelPrice:
        found = self.match(model)
        if found is None:
            raise KeyError(model)
        return found[1]

    def __repr__(self) -> str:
        return f"ListPrices({self.provider!r})"


OPENAI_PRICES = ListPrices("openai")
GEMINI_PRICES = ListPrices("google")


class PriceTable:
    """A provider's list prices under the user's own (settings' `prices`), which win.

    An own price applies to its model and, by its longest known prefix, to that model's dated names
    ("gpt-4.1" prices "gpt-4.1-2025-04-14"), unless the list knows a more specific model: an own
    "gpt-4.1" does not price "gpt-4.1-mini-2025-04-14", which is the list's "gpt-4.1-mini".
    """

    def __init__(self, *tables: Mapping[str, ModelPrice] | ListPrices) -> None:
        self._lists: list[ListPrices] = []
        self._own: dict[str, ModelPrice] = {}
        for table in tables:  # later tables override earlier ones
            if isinstance(table, ListPrices):
                self._lists.insert(0, table)
            else:
                self._own.update(table)

    def price(self, model: str | None) -> ModelPrice | None:
        if not model:
            return None
        if model in self._own:
            return self._own[model]
        own = max((name for name in self._own if model.startswith(name)), key=len, default=None)
        for prices in self._lists:
            found = prices.match(model)
            if found is None:
                continue
            listed, price = found
            # A listed model matched through an alias counts as the whole name: the most specific.
            known = len(listed) if model.lower().startswith(listed) else len(model)
            if own is None or known > len(own):
                return price
            break
        return self._own[own] if own is not None else None

    def usage(self, model: str | None, input_tokens: int, output_tokens: int) -> Usage:
        """Usage with its cost; an unknown model costs 0 rather than a guess."""
        price = self.price(model)
        cost = (
            0.0 if price is None else (input_tokens * price.input + output_tokens * price.output) / 1_000_000
        )
        return Usage(input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost)


@cache
def _listed(provider: str, model: str) -> tuple[str, ModelPrice] | None:
    from genai_prices import Usage as Tokens
    from genai_prices import calc_price

    try:
        bill = calc_price(
            Tokens(input_tokens=_PROBE_TOKENS, output_tokens=_PROBE_TOKENS), model, provider_id=provider
        )
    except LookupError:  # no such provider, or it lists no such model
        return None
    per_million = Decimal(1_000_000 // _PROBE_TOKENS)
    return bill.model.id, ModelPrice(
        input=float(bill.input_price * per_million), output=float(bill.output_price * per_million)
    )

"""Budget: spending is counted across calls, and the limit reached is named with the figures."""

from __future__ import annotations

from parallelai.models import RunLimits, Usage
from parallelai.orchestration.budget import Budget


def test_spending_under_the_limits_reaches_nothing() -> None:
    budget = Budget(RunLimits(max_cost_usd=1.0, max_tokens=100))
    assert budget.add(Usage(input_tokens=10, output_tokens=20, cost_usd=0.25)) is None
    assert budget.spent == Usage(input_tokens=10, output_tokens=20, cost_usd=0.25)


def test_the_cost_limit_is_reached_at_the_maximum_and_says_how_much_was_spent() -> None:
    budget = Budget(RunLimits(max_cost_usd=0.5), spent=Usage(cost_usd=0.25))
    overrun = budget.add(Usage(cost_usd=0.25))
    assert overrun is not None
    assert (overrun.limit, overrun.spent, overrun.maximum) == ("cost", 0.5, 0.5)
    assert overrun.reason == "budget reached: spent $0.5000 of $0.5000"


def test_the_token_limit_counts_input_and_output_tokens() -> None:
    budget = Budget(RunLimits(max_tokens=100))
    assert budget.add(Usage(input_tokens=60)) is None
    overrun = budget.add(Usage(output_tokens=50))
    assert overrun is not None
    assert (overrun.limit, overrun.spent, overrun.maximum) == ("tokens", 110, 100)
    assert overrun.reason == "budget reached: used 110 of 100 tokens"


def test_no_limits_means_no_overrun_however_much_is_spent() -> None:
    assert Budget(RunLimits()).add(Usage(input_tokens=10**9, cost_usd=10**6)) is None

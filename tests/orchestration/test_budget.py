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


def test_without_limits_every_task_is_admitted_without_a_probe() -> None:
    budget = Budget(RunLimits())
    assert all(budget.reserve("echo") is not None for _ in range(100))


def test_before_an_engine_has_finished_an_attempt_only_one_probe_of_it_is_admitted() -> None:
    budget = Budget(RunLimits(max_cost_usd=10.0))
    probe = budget.reserve("echo")
    assert probe is not None
    assert probe.probe
    assert budget.reserve("echo") is None
    assert budget.reserve("openai") is not None  # each engine probes on its own
    budget.add(Usage(cost_usd=1.0), "echo")
    budget.release(probe)
    assert budget.reserve("echo") is not None


def test_a_task_is_admitted_only_while_spent_plus_reserved_plus_its_estimate_fits() -> None:
    budget = Budget(RunLimits(max_cost_usd=3.0))
    probe = budget.reserve("echo")
    assert probe is not None
    budget.add(Usage(cost_usd=1.0), "echo")
    budget.release(probe)
    first = budget.reserve("echo")
    second = budget.reserve("echo")
    assert first is not None
    assert first.usage.cost_usd == 1.0
    assert second is not None  # 1 spent + 1 reserved + 1 = exactly 3: it fits
    assert budget.reserve("echo") is None
    refusal = budget.refusal()
    assert refusal is not None
    assert (
        refusal.reason
        == "budget reached: spent $1.0000 of $3.0000; the next task would cost about $1.0000 more"
    )
    budget.release(first)
    assert budget.reserve("echo") is not None


def test_the_estimate_is_the_mean_of_the_attempts_that_spent_something() -> None:
    budget = Budget(RunLimits(max_tokens=1000))
    budget.add(Usage(input_tokens=10, output_tokens=30), "echo")
    budget.add(Usage(input_tokens=20, output_tokens=41), "echo")
    budget.add(Usage(), "echo")  # cut off before it spent anything: not a sample
    assert budget.estimate("echo") == Usage(input_tokens=15, output_tokens=36)
    assert budget.estimate("claude-code") is None


def test_the_final_note_counts_what_was_spent_after_the_limit_was_reached() -> None:
    budget = Budget(RunLimits(max_cost_usd=0.2))
    overrun = budget.add(Usage(cost_usd=0.2), "echo")
    assert overrun is not None
    budget.add(Usage(cost_usd=0.16), "echo")  # a task that was already running
    assert budget.final(overrun) == "budget reached: spent $0.3600 of $0.2000"

"""`ParallelOrchestrator(strategy=...)` and `.strategy(name)`: every strategy name, and what each makes of a list."""

from __future__ import annotations

import pytest

from parallelai import ParallelOrchestrator
from parallelai.errors import InputError, UnknownStrategyError


@pytest.mark.parametrize("name", ["parallel", "dag", "batch", "pipeline", "mapreduce"])
def test_every_strategy_name_is_accepted_at_construction(name: str) -> None:
    assert ParallelOrchestrator(strategy=name).strategy_name == name


def test_the_announced_intelligent_strategy_is_adaptive_and_runs_a_list_of_prompts() -> None:
    orchestrator = ParallelOrchestrator(engine="echo", max_parallel=100, strategy="intelligent")

    results = orchestrator.execute(["a", "b"])

    assert orchestrator.strategy_name == "adaptive"
    assert results.ok
    assert results.run.strategy == "adaptive"


def test_an_unknown_strategy_is_refused_at_construction_with_the_known_ones() -> None:
    with pytest.raises(UnknownStrategyError, match=r"did you mean 'pipeline'.*choose one of"):
        ParallelOrchestrator(strategy="pipelin")


def test_an_option_of_another_strategy_is_refused_at_construction_naming_its_strategy() -> None:
    with pytest.raises(InputError, match="`reduce` belongs to strategy 'mapreduce'"):
        ParallelOrchestrator(strategy="pipeline", reduce="Combine")
    with pytest.raises(InputError, match=r"name it too, e\.g\. strategy='batch'"):
        ParallelOrchestrator(batch_size=5)
    with pytest.raises(InputError, match="batch_size"):
        ParallelOrchestrator(strategy="batch", batch_size=0)


def test_strategy_pipeline_then_execute_gives_each_stage_the_previous_stage_s_answer() -> None:
    orchestrator = ParallelOrchestrator(engine="echo")

    results = orchestrator.strategy("pipeline").execute(
        ["Write a haiku about rain", "Translate it to French"]
    )

    first, second = results.records
    assert results.run.strategy == "pipeline"
    assert second.task.depends_on == [first.task.id]
    assert second.result is not None
    assert second.result.text.startswith("echo: Translate it to French")
    assert "echo: Write a haiku about rain" in second.result.text


def test_strategy_returns_the_orchestrator_and_stays_for_later_executes() -> None:
    orchestrator = ParallelOrchestrator(engine="echo")
    assert orchestrator.strategy("dag") is orchestrator
    assert orchestrator.strategy_name == "dag"
    orchestrator.execute(["a"])
    assert orchestrator.execute(["b"]).run.strategy == "dag"


def test_pipeline_with_stages_sends_every_item_through_them() -> None:
    orchestrator = ParallelOrchestrator(
        engine="echo", strategy="pipeline", stages=["Review", "One line: {{ output }}"]
    )

    results = orchestrator.execute(["auth", "billing"])

    verdicts = [record.result.text for record in results if record.result and record.task.depends_on]
    assert verdicts == ["echo: One line: echo: Review\n\nauth", "echo: One line: echo: Review\n\nbilling"]


def test_mapreduce_runs_the_prompts_as_maps_and_the_reduce_prompt_over_their_answers() -> None:
    orchestrator = ParallelOrchestrator(engine="echo").strategy("mapreduce", reduce="Combine these:")

    results = orchestrator.execute(["Summarise a", "Summarise b"])

    reduce = results["reduce"]
    assert reduce is not None
    assert reduce.text.startswith("echo: Combine these:")
    assert "echo: Summarise a" in reduce.text
    assert "echo: Summarise b" in reduce.text
    assert len(results) == 3


def test_batch_packs_batch_size_prompts_into_one_agent_call() -> None:
    orchestrator = ParallelOrchestrator(engine="echo", strategy="batch", batch_size=2)

    results = orchestrator.execute(["one", "two", "three"])

    assert len(results) == 2
    assert "1. one\n2. two" in results.texts[0]
    assert "3. three" in results.texts[1]


def test_list_strategies_refuse_task_objects_and_say_what_to_use() -> None:
    with pytest.raises(InputError, match="use strategy 'parallel' or 'dag'"):
        ParallelOrchestrator(engine="echo", strategy="batch").execute([{"prompt": "x", "id": "a"}])

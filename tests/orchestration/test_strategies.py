"""Each strategy compiles to the DAG it promises, and the scheduler runs it in that order."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from parallelai.errors import InputError
from parallelai.models import RunSpec, RunState, Task, TaskOptions, TaskState
from parallelai.orchestration.service import OrchestrationService
from parallelai.orchestration.strategies import (
    AdaptiveWork,
    BatchWork,
    DagWork,
    MapReduceWork,
    ParallelWork,
    PipelineWork,
    Stage,
    compile_work,
)
from tests.orchestration._support import position, run_to_end

pytestmark = pytest.mark.anyio


def _with_echo(task: Task, **engine_options: Any) -> Task:
    options = task.options.model_copy(
        update={"engine_options": {**task.options.engine_options, **engine_options}}
    )
    return task.model_copy(update={"options": options})


async def test_pipeline_stage_two_of_a_fast_item_starts_before_stage_one_of_a_slow_item_ends(
    service: OrchestrationService,
) -> None:
    work = PipelineWork(
        items=["slow", "fast"],
        stages=[
            Stage(name="draft", prompt="draft {{ item }}"),
            Stage(name="review", prompt="review: {{ output }}"),
        ],
    )
    tasks = [_with_echo(t, latency=0.3) if t.id == "draft-0001" else t for t in compile_work(work)]

    summary, events = await run_to_end(service, RunSpec(strategy="pipeline", tasks=tasks))

    assert summary.state is RunState.SUCCEEDED
    assert {t.id: t.depends_on for t in tasks} == {
        "draft-0001": [],
        "review-0001": ["draft-0001"],
        "draft-0002": [],
        "review-0002": ["draft-0002"],
    }
    # No barrier: the fast item's second stage ran to the end while the slow item was still in stage one.
    assert position(events, "review-0002", TaskState.RUNNING) < position(
        events, "draft-0001", TaskState.SUCCEEDED
    )
    assert position(events, "review-0002", TaskState.SUCCEEDED) < position(
        events, "draft-0001", TaskState.SUCCEEDED
    )
    review = await service.task(summary.id, "review-0001")
    assert review.result is not None
    assert review.result.text == "echo: review: echo: draft slow"


def test_pipeline_stage_names_must_be_unique() -> None:
    work = PipelineWork(items=["a"], stages=[Stage(name="x", prompt="p"), Stage(name="x", prompt="q")])

    with pytest.raises(InputError, match="unique"):
        compile_work(work)


async def test_mapreduce_builds_a_tree_of_reduces_and_the_final_reduce_sees_every_map_output(
    service: OrchestrationService,
) -> None:
    work = MapReduceWork(
        items=[f"item{i}" for i in range(1, 6)],
        map=Stage(prompt="summarise {{ item }}"),
        reduce=Stage(prompt="combine [{{ output }}]"),
        fan_in=2,
    )
    tasks = compile_work(work)

    assert {t.id: t.depends_on for t in tasks if not t.id.startswith("map-")} == {
        "reduce-1-0001": ["map-0001", "map-0002"],
        "reduce-1-0002": ["map-0003", "map-0004"],
        "reduce-1-0003": ["map-0005"],
        "reduce-2-0001": ["reduce-1-0001", "reduce-1-0002"],
        "reduce-2-0002": ["reduce-1-0003"],
        "reduce": ["reduce-2-0001", "reduce-2-0002"],
    }
    assert all(len(t.depends_on) <= 2 for t in tasks)

    summary, events = await run_to_end(service, RunSpec(strategy="mapreduce", tasks=tasks))

    assert summary.state is RunState.SUCCEEDED
    final = await service.task(summary.id, "reduce")
    assert final.result is not None
    for i in range(1, 6):
        assert f"echo: summarise item{i}" in final.result.text
    for reduce_id in ("reduce-2-0001", "reduce-2-0002"):
        assert position(events, reduce_id, TaskState.SUCCEEDED) < position(
            events, "reduce", TaskState.RUNNING
        )


def test_mapreduce_with_few_items_reduces_once() -> None:
    work = MapReduceWork(
        items=["a", "b"], map=Stage(prompt="{{ item }}"), reduce=Stage(prompt="{{ output }}")
    )

    tasks = compile_work(work)

    assert [(t.id, t.depends_on) for t in tasks] == [
        ("map-0001", []),
        ("map-0002", []),
        ("reduce", ["map-0001", "map-0002"]),
    ]


def test_mapreduce_needs_items() -> None:
    work = MapReduceWork(items=[], map=Stage(prompt="{{ item }}"), reduce=Stage(prompt="{{ output }}"))

    with pytest.raises(InputError, match="at least one item"):
        compile_work(work)


async def test_batch_by_size_packs_k_items_per_task(service: OrchestrationService) -> None:
    work = BatchWork(items=["a", "b", "c", "d", "e"], prompt="handle:\n{{ items }}", batch_size=2)
    tasks = compile_work(work)

    assert [t.inputs["items"] for t in tasks] == [["a", "b"], ["c", "d"], ["e"]]
    summary, _ = await run_to_end(service, RunSpec(strategy="batch", tasks=tasks))
    assert summary.state is RunState.SUCCEEDED
    first = await service.task(summary.id, "batch-0001")
    assert first.result is not None
    assert first.result.text == "echo: handle:\na\nb"


def test_batch_by_max_chars_keeps_each_batch_within_the_budget() -> None:
    # Each item costs its length plus a newline: 4 + 4 fit in 9, a third would not; an item larger
    # than the budget gets a batch of its own; other items are counted as JSON.
    items = ["aaa", "bbb", "ccc", "dddddddddddd", "e", {"k": 1}]
    work = BatchWork(items=items, prompt="{{ items }}", max_chars=9)

    tasks = compile_work(work)

    assert [t.inputs["items"] for t in tasks] == [
        ["aaa", "bbb"],
        ["ccc"],
        ["dddddddddddd"],
        ["e"],
        ['{"k": 1}'],
    ]
    assert [t.id for t in tasks] == [f"batch-{n:04d}" for n in range(1, 6)]


@pytest.mark.parametrize(("size", "chars"), [(None, None), (2, 10)])
def test_batch_needs_exactly_one_of_size_or_max_chars(size: int | None, chars: int | None) -> None:
    with pytest.raises(InputError, match="exactly one"):
        compile_work(BatchWork(items=["a"], prompt="{{ items }}", batch_size=size, max_chars=chars))


def test_parallel_rejects_depends_on_and_points_to_dag() -> None:
    tasks = [Task(id="a", prompt="x"), Task(id="b", prompt="y", depends_on=["a"])]

    with pytest.raises(InputError, match="strategy: dag") as caught:
        compile_work(ParallelWork(tasks=tasks))

    assert "'b'" in str(caught.value)
    assert compile_work(DagWork(tasks=tasks)) == tasks


def test_item_fields_become_inputs_for_stage_prompts() -> None:
    work = PipelineWork(
        items=[{"name": "Ada", "lang": "en"}], stages=[Stage(prompt="{{ name }} in {{ lang }}")]
    )

    (task,) = compile_work(work)

    assert task.inputs == {"item": {"name": "Ada", "lang": "en"}, "name": "Ada", "lang": "en"}
    assert task.options == TaskOptions()


def test_intelligent_is_accepted_as_another_name_for_adaptive_and_kept_under_one_name() -> None:
    spec = RunSpec.model_validate({"strategy": "intelligent", "tasks": [{"prompt": "x"}]})

    assert spec.strategy == "adaptive"


def test_adaptive_work_keeps_its_tasks_and_dependencies_as_given() -> None:
    tasks = [Task(id="a", prompt="x"), Task(id="b", prompt="y", depends_on=["a"])]

    assert compile_work(AdaptiveWork(strategy="intelligent", tasks=tasks)) == tasks


def test_an_unknown_strategy_is_still_refused() -> None:
    with pytest.raises(ValidationError, match="strategy"):
        RunSpec.model_validate({"strategy": "clever", "tasks": [{"prompt": "x"}]})

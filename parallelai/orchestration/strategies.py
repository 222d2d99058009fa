"""Strategies compile a description of work into a DAG of tasks; the scheduler only runs DAGs.

- parallel:  independent tasks, as given.
- dag:       tasks with explicit `depends_on`.
- adaptive:  tasks (and `depends_on`) as given, like dag; what differs is how many run at once,
             learnt while the run runs (orchestration/adaptive.py). `intelligent` is its alias.
- batch:     items packed into tasks of `batch_size` items, or of at most `max_chars` characters.
- pipeline:  per item, stage k+1 depends only on stage k of the same item (no barrier).
- mapreduce: one map task per item, then a tree of reduce tasks with at most `fan_in` inputs
             each, so no reduce prompt grows without bound.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parallelai.errors import InputError
from parallelai.models import Task, TaskOptions


class _Work(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Stage(_Work):
    """One step applied to items: a prompt template plus where and how to run it."""

    name: str | None = None
    prompt: str
    engine: str | None = None
    options: TaskOptions = Field(default_factory=TaskOptions)


class ParallelWork(_Work):
    strategy: Literal["parallel"] = "parallel"
    tasks: list[Task]


class DagWork(_Work):
    strategy: Literal["dag"] = "dag"
    tasks: list[Task]


class AdaptiveWork(_Work):
    # The alias is accepted here too; the planned run stores the strategy's own name (RunSpec).
    strategy: Literal["adaptive", "intelligent"] = "adaptive"
    tasks: list[Task]


class BatchWork(_Work):
    strategy: Literal["batch"] = "batch"
    items: list[Any]
    prompt: str  # `{{ items }}` is the batch's items, one per line
    engine: str | None = None
    options: TaskOptions = Field(default_factory=TaskOptions)
    batch_size: Annotated[int, Field(gt=0)] | None = None
    max_chars: Annotated[int, Field(gt=0)] | None = None


class PipelineWork(_Work):
    strategy: Literal["pipeline"] = "pipeline"
    items: list[Any]
    stages: Annotated[list[Stage], Field(min_length=1)]


class MapReduceWork(_Work):
    strategy: Literal["mapreduce"] = "mapreduce"
    items: list[Any]
    map: Stage
    reduce: Stage  # `{{ output }}` is the outputs it combines
    fan_in: Annotated[int, Field(ge=2)] = 10


AnyWork = ParallelWork | DagWork | AdaptiveWork | BatchWork | PipelineWork | MapReduceWork
Work = Annotated[AnyWork, Field(discriminator="strategy")]


def compile_work(work: AnyWork) -> list[Task]:
    match work:
        case ParallelWork(tasks=tasks):
            with_deps = next((task for task in tasks if task.depends_on), None)
            if with_deps is not None:
                raise InputError(
                    f"task {with_deps.id or with_deps.prompt[:30]!r} has depends_on, which the parallel "
                    "strategy does not order by; use strategy: dag"
                )
            return list(tasks)
        case DagWork(tasks=tasks) | AdaptiveWork(tasks=tasks):
            return list(tasks)
        case BatchWork():
            return _batches(work)
        case PipelineWork():
            return _pipeline(work)
        case MapReduceWork():
            return _mapreduce(work)


def _item_inputs(item: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {"item": item}
    if isinstance(item, dict):
        inputs.update({str(key): value for key, value in item.items() if key != "item"})
    return inputs


def _item_text(item: Any) -> str:
    return item if isinstance(item, str) else json.dumps(item, ensure_ascii=False, default=str)


def _batches(work: BatchWork) -> list[Task]:
    if (work.batch_size is None) == (work.max_chars is None):
        raise InputError("the batch strategy needs exactly one of batch_size or max_chars")
    groups: list[list[Any]] = []
    if work.batch_size is not None:
        groups = [work.items[i : i + work.batch_size] for i in range(0, len(work.items), work.batch_size)]
    else:
        assert work.max_chars is not None
        size = 0
        for item in work.items:
            length = len(_item_text(item)) + 1
            if groups and size + length <= work.max_chars:
                groups[-1].append(item)
                size += length
            else:
                groups.append([item])  # an item larger than the budget still gets a batch of its own
                size = length
    return [
        Task(
            id=f"batch-{number:04d}",
            prompt=work.prompt,
            engine=work.engine,
            options=work.options,
            inputs={"items": [_item_text(item) for item in group]},
        )
        for number, group in enumerate(groups, 1)
    ]


def _stage_task(stage: Stage, task_id: str, inputs: dict[str, Any], depends_on: Sequence[str]) -> Task:
    return Task(
        id=task_id,
        prompt=stage.prompt,
        engine=stage.engine,
        options=stage.options,
        inputs=inputs,
        depends_on=list(depends_on),
    )


def _pipeline(work: PipelineWork) -> list[Task]:
    names = [stage.name or f"s{k}" for k, stage in enumerate(work.stages, 1)]
    if len(set(names)) != len(names):
        raise InputError("pipeline stage names must be unique")
    tasks: list[Task] = []
    for i, item in enumerate(work.items, 1):
        previous: list[str] = []
        for name, stage in zip(names, work.stages, strict=True):
            task_id = f"{name}-{i:04d}"
            tasks.append(_stage_task(stage, task_id, _item_inputs(item), previous))
            previous = [task_id]
    return tasks


def _mapreduce(work: MapReduceWork) -> list[Task]:
    if not work.items:
        raise InputError("the mapreduce strategy needs at least one item")
    tasks = [
        _stage_task(work.map, f"map-{i:04d}", _item_inputs(item), []) for i, item in enumerate(work.items, 1)
    ]
    level_ids = [task.id for task in tasks]
    level = 1
    while True:
        groups = [level_ids[i : i + work.fan_in] for i in range(0, len(level_ids), work.fan_in)]
        if len(groups) == 1:
            tasks.append(_stage_task(work.reduce, "reduce", {}, groups[0]))
            return tasks
        level_ids = []
        for number, group in enumerate(groups, 1):
            task_id = f"reduce-{level}-{number:04d}"
            tasks.append(_stage_task(work.reduce, task_id, {}, group))
            level_ids.append(task_id)
        level += 1

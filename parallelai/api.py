"""The Python API: `ParallelOrchestrator`, the `@orchestrate` decorator and `Results`."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError

from parallelai.errors import InputError
from parallelai.events import Event, RunFinished
from parallelai.models import (
    RunSpec,
    RunSummary,
    StrategyName,
    Task,
    TaskRecord,
    TaskResult,
    TaskState,
    Usage,
)
from parallelai.orchestration.service import OrchestrationService
from parallelai.planning import plan_request
from parallelai.run_request import RunRequest, TaskInput, build_settings

TaskLike = str | Mapping[str, Any] | Task


@dataclass(frozen=True)
class Results:
    """What a run produced: per-task records in plan order, plus the run's totals."""

    run: RunSummary
    records: list[TaskRecord]

    @property
    def run_id(self) -> str:
        return self.run.id

    @property
    def ok(self) -> bool:
        return all(record.state is TaskState.SUCCEEDED for record in self.records)

    @property
    def counts(self) -> dict[TaskState, int]:
        return self.run.counts

    @property
    def usage(self) -> Usage:
        return self.run.usage

    @property
    def total_tokens(self) -> int:
        return self.run.usage.total_tokens

    @property
    def cost_usd(self) -> float:
        return self.run.usage.cost_usd

    @property
    def texts(self) -> list[str]:
        """Each task's answer in plan order ('' where a task produced none)."""
        return [record.result.text if record.result else "" for record in self.records]

    @property
    def failed(self) -> list[TaskRecord]:
        return [record for record in self.records if record.state is not TaskState.SUCCEEDED]

    def __getitem__(self, task_id: str) -> TaskResult | None:
        for record in self.records:
            if record.task.id == task_id:
                return record.result
        raise KeyError(task_id)

    def __iter__(self) -> Iterator[TaskRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


class ParallelOrchestrator:
    """Run many prompts over one engine, in parallel, durably.

    orchestrator = ParallelOrchestrator(engine="claude-code", max_parallel=10)
    results = orchestrator.execute(["Summarise a.py", {"prompt": "Summarise b.py", "id": "b"}])
    print(results.counts, results.cost_usd)

    What is not given comes from the environment and the workdir's `.parallelai/config.toml`
    (docs/config.md); with no engine named anywhere, the first real assistant ready on this
    machine runs the work. `engine="echo"` is a dry run with canned answers, only when named.
    """

    def __init__(
        self,
        engine: str | None = None,
        max_parallel: int | None = None,
        strategy: StrategyName = "parallel",
        *,
        engine_settings: Mapping[str, Mapping[str, Any]] | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        max_cost_usd: float | None = None,
        max_tokens: int | None = None,
        fail_fast: bool | None = None,
        use_cache: bool | None = None,
        store_path: Path | str | None = None,
        workdir: Path | str | None = None,
    ) -> None:
        self.engine = engine
        self.strategy: StrategyName = strategy
        self._store_path = Path(store_path) if store_path else None
        self._settings = build_settings(
            engine=engine,
            parallel=max_parallel,
            strategy=strategy,
            engines={name: dict(value) for name, value in (engine_settings or {}).items()},
            timeout=timeout,
            retries=retries,
            max_cost_usd=max_cost_usd,
            max_tokens=max_tokens,
            fail_fast=fail_fast,
            use_cache=use_cache,
            workdir=str(workdir) if workdir else None,
        )

    def spec(self, tasks: Iterable[TaskLike], name: str | None = None) -> RunSpec:
        """The run `tasks` make with this orchestrator's settings, planned as every surface plans."""
        entries = [task if isinstance(task, str | Task) else _task_object(task) for task in tasks]
        request = RunRequest.model_validate(
            {**self._settings.model_dump(exclude_unset=True), "tasks": entries, "name": name}
        )
        return plan_request(request)

    def execute(self, tasks: Iterable[TaskLike], name: str | None = None) -> Results:
        """Run `tasks` to the end and return their results (blocking; not inside an event loop)."""
        spec = self.spec(tasks, name)
        return anyio.run(self._execute_spec, spec)

    async def aexecute(self, tasks: Iterable[TaskLike], name: str | None = None) -> Results:
        return await self._execute_spec(self.spec(tasks, name))

    async def stream(self, tasks: Iterable[TaskLike], name: str | None = None) -> AsyncIterator[Event]:
        """Run `tasks`, yielding every event of the run as it happens, up to and including RunFinished."""
        spec = self.spec(tasks, name)
        async with OrchestrationService.open(self._store_path) as service:
            after = service.bus.last_seq
            run_id = await service.submit(spec)
            async with aclosing(service.events(after, run_id)) as events:
                async for event in events:
                    yield event
                    if isinstance(event, RunFinished):
                        return

    async def _execute_spec(self, spec: RunSpec) -> Results:
        async with OrchestrationService.open(self._store_path) as service:
            summary = await service.run(spec)
            return Results(summary, await service.tasks(summary.id))


def _task_object(task: Mapping[str, Any]) -> Task | TaskInput:
    """A mapping as a task: as a tasks file writes it (with `options`), else flat (`timeout` beside `prompt`)."""
    data = dict(task)
    shape: type[Task | TaskInput] = Task if "options" in data else TaskInput
    try:
        return shape.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        raise InputError(f"task {data!r}: {'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None


def orchestrate(
    parallel: int | None = None, engine: str | None = None, **options: Any
) -> Callable[[Callable[[Any], str]], Callable[[Iterable[Any]], Results]]:
    """Turn a function from one input to one prompt into a function over many inputs, run in parallel.

    @orchestrate(parallel=20, engine="claude-code")
    def review(path):
        return f"Review {path} for bugs"

    results = review(["a.py", "b.py"])
    """

    def decorate(make_prompt: Callable[[Any], str]) -> Callable[[Iterable[Any]], Results]:
        orchestrator = ParallelOrchestrator(engine=engine, max_parallel=parallel, **options)

        @functools.wraps(make_prompt)
        def run_all(inputs: Iterable[Any]) -> Results:
            return orchestrator.execute([make_prompt(item) for item in inputs], name=make_prompt.__name__)

        return run_all

    return decorate

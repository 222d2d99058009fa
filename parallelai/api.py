"""The Python API: `ParallelOrchestrator`, the `@orchestrate` decorator and `Results`."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import ValidationError

from parallelai.errors import InputError
from parallelai.events import Event, RunFinished
from parallelai.models import (
    EngineObject,
    Gate,
    RunSpec,
    RunState,
    RunSummary,
    Task,
    TaskRecord,
    TaskResult,
    TaskState,
    Usage,
)
from parallelai.orchestration.service import OrchestrationService
from parallelai.planning import plan_request
from parallelai.run_request import RunRequest, TaskInput, build_settings
from parallelai.strategy_choice import OPTIONS_OF, StrategyChoice, choose_strategy
from parallelai.task_forms import TargetTask
from parallelai.templates.catalog import LibraryCatalog

if TYPE_CHECKING:
    from parallelai.monitoring import Monitoring

TaskLike = str | Mapping[str, Any] | Task | TaskInput


class StateCounts(dict[TaskState, int]):
    """How many tasks are in each state, holding only the states some task is in, so that it
    prints as `{'succeeded': 3, 'failed': 1}`. Any other state reads 0 (`counts[TaskState.FAILED]`,
    `counts["failed"]`, `counts.get("failed")`); a name that is no state is a KeyError."""

    def __getitem__(self, key: TaskState | str) -> int:
        return super().__getitem__(key)  # type: ignore[index]  # a state's name finds it too

    def __missing__(self, key: object) -> int:
        if key in _STATE_NAMES:
            return 0
        raise KeyError(key)

    def get(self, key: object, default: object = None) -> Any:
        return self[key] if isinstance(key, str) and key in _STATE_NAMES else default

    def __repr__(self) -> str:
        return repr({state.value: count for state, count in self.items()})


_STATE_NAMES = frozenset(state.value for state in TaskState)


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
        """Every task succeeded and so did the run: a failed gate fails it, its tasks' success aside."""
        return self.run.state is RunState.SUCCEEDED and all(
            record.state is TaskState.SUCCEEDED for record in self.records
        )

    @property
    def counts(self) -> StateCounts:
        """Tasks per state, the states no task is in left out: `{'succeeded': 3}` when printed."""
        return StateCounts((state, count) for state, count in self.run.counts.items() if count)

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
    orchestrator.strategy("pipeline").execute(["Draft a haiku about rain", "Translate it into French"])

    What is not given comes from the environment and the workdir's `.parallelai/config.toml`
    (docs/config.md); with no engine named anywhere, the first real assistant ready on this
    machine runs the work. `engine="echo"` is a dry run with canned answers, only when named.

    `strategy` (default: `dag` when a task has `depends_on`, else `parallel`) says what `execute`
    makes of its list — parallelai/strategy_choice.py: `batch` packs `batch_size` prompts to an
    agent call, `pipeline` applies each prompt to the previous one's answer (or the `stages` to
    every item), `mapreduce` combines the prompts' answers with `reduce`. An option that does not
    belong to the strategy is refused here, with the strategy that takes it.
    """

    def __init__(
        self,
        engine: str | EngineObject | None = None,
        max_parallel: int | None = None,
        strategy: str | None = None,
        *,
        batch_size: int | None = None,
        max_chars: int | None = None,
        stages: Sequence[str] | None = None,
        reduce: str | None = None,
        fan_in: int | None = None,
        engine_settings: Mapping[str, Mapping[str, Any]] | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        max_cost_usd: float | None = None,
        max_tokens: int | None = None,
        fail_fast: bool | None = None,
        use_cache: bool | None = None,
        store_path: Path | str | None = None,
        workdir: Path | str | None = None,
        isolation: bool | None = None,
        gates: Sequence[str | Gate] | None = None,
        task_gates: Sequence[str | Gate] | None = None,
        fallbacks: Sequence[str] | None = None,
        deadline_s: float | None = None,
    ) -> None:
        self.engine = engine
        options = {
            "batch_size": batch_size,
            "max_chars": max_chars,
            "stages": list(stages) if stages is not None else None,
            "reduce": reduce,
            "fan_in": fan_in,
        }
        given = {key: value for key, value in options.items() if value is not None}
        if given and strategy is None:
            first = next(iter(given))
            raise InputError(
                f"ParallelOrchestrator({first}=...) is an option of a strategy; name it too, "
                f"e.g. strategy={_strategy_of(first)!r}"
            )
        self._strategy: StrategyChoice | None = choose_strategy(strategy, given) if strategy else None
        self._store_path = Path(store_path) if store_path else None
        self._settings = build_settings(
            engine=engine,
            parallel=max_parallel,
            engines={name: dict(value) for name, value in (engine_settings or {}).items()},
            timeout=timeout,
            retries=retries,
            max_cost_usd=max_cost_usd,
            max_tokens=max_tokens,
            fail_fast=fail_fast,
            use_cache=use_cache,
            workdir=str(workdir) if workdir else None,
            isolation=isolation,
            gates=list(gates) if gates else None,
            task_gates=list(task_gates) if task_gates else None,
            fallbacks=list(fallbacks) if fallbacks else None,
            deadline_s=deadline_s,
        )

    @property
    def strategy_name(self) -> str | None:
        """The strategy `execute` uses; None: `dag` when a task has `depends_on`, else `parallel`."""
        return self._strategy.name if self._strategy else None

    def strategy(self, name: str, **options: Any) -> ParallelOrchestrator:
        """Use strategy `name` (with its options: `batch_size`, `stages`, `reduce`, …) from the next
        `execute` on; returns the orchestrator, so calls chain."""
        self._strategy = choose_strategy(name, options)
        return self

    def monitor(
        self,
        dashboard: str | None = "web",
        notifications: str | None = None,
        metrics: bool = True,
        port: int | None = None,
    ) -> Monitoring:
        """Show this orchestrator's runs on the daemon's monitors, starting the daemon (on `port`,
        default any free one) if none runs; returns where to look (parallelai/monitoring.py).

        Runs still execute in this process; the daemon follows them live through the shared store.
        `dashboard`: "web" (a one-time login link), "terminal" (`parallelai watch`), "grafana"
        (Prometheus `/metrics`) or None; `notifications`: "slack" or "webhook", from the `[notify]`
        table of the config (or what to set there)."""
        return anyio.run(self.amonitor, dashboard, notifications, metrics, port)

    async def amonitor(
        self,
        dashboard: str | None = "web",
        notifications: str | None = None,
        metrics: bool = True,
        port: int | None = None,
    ) -> Monitoring:
        # Imported here: the daemon's client is needed only by scripts that ask for monitors.
        from parallelai.monitoring import attach_monitors

        return await attach_monitors(
            self._store_path, dashboard=dashboard, notifications=notifications, metrics=metrics, port=port
        )

    def spec(self, tasks: Iterable[TaskLike], name: str | None = None) -> RunSpec:
        """The run `tasks` make with this orchestrator's settings, planned as every surface plans."""
        given = list(tasks)
        settings = self._settings.model_dump(exclude_unset=True)
        work = self._strategy.work(given) if self._strategy else None
        workdir = Path(self._settings.workdir or ".")
        catalog = LibraryCatalog(workdir.resolve(), paths=True)
        if work is not None:
            request = RunRequest.model_validate({**settings, "work": work, "name": name})
            return plan_request(request, catalog)
        root = workdir.resolve()
        entries: list[str | Task | TaskInput] = []
        for task in given:
            entries.extend(_entries(task, root))
        strategy = {"strategy": self._strategy.name} if self._strategy else {}
        request = RunRequest.model_validate({**settings, **strategy, "tasks": entries, "name": name})
        return plan_request(request, catalog)

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


def _problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(map(str, problem["loc"]))
    message = str(problem["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _strategy_of(option: str) -> str:
    return next(name for name, options in OPTIONS_OF.items() if option in options)


def _entries(task: TaskLike, root: Path) -> list[str | Task | TaskInput]:
    """One entry of `execute`'s list as tasks: a `{task, target, pattern}` mapping is one per file."""
    if isinstance(task, str | Task | TaskInput):
        return [task]
    if "task" in task:
        try:
            form = TargetTask.model_validate(dict(task))
        except ValidationError as error:
            raise InputError(f"task {dict(task)!r}: {_problem(error)}") from None
        return list(form.expand(root))
    return [_task_object(task)]


def _task_object(task: Mapping[str, Any]) -> Task | TaskInput:
    """A mapping as a task: as a tasks file writes it (with `options`) or naming a `template`,
    else flat (`timeout` beside `prompt`)."""
    data = dict(task)
    shape: type[Task | TaskInput] = Task if "options" in data or "template" in data else TaskInput
    try:
        return shape.model_validate(data)
    except ValidationError as error:
        raise InputError(f"task {data!r}: {_problem(error)}") from None


def orchestrate(
    parallel: int | None = None, engine: str | EngineObject | None = None, **options: Any
) -> Callable[[Callable[[Any], str]], Callable[[Iterable[Any]], Results]]:
    """Turn a function from one input to one prompt into a function over many inputs, run in parallel.

    @orchestrate(parallel=20, engine="claude-code")
    def review(path):
        return f"Review {path} for bugs"

    results = review(["a.py", "b.py"])

    Each input reaches its agent: one that is a file in the workspace is given to it (its content
    follows the prompt); any other is added to the prompt, unless the prompt already contains it.
    """

    def decorate(make_prompt: Callable[[Any], str]) -> Callable[[Iterable[Any]], Results]:
        orchestrator = ParallelOrchestrator(engine=engine, max_parallel=parallel, **options)

        @functools.wraps(make_prompt)
        def run_all(inputs: Iterable[Any]) -> Results:
            root = Path(orchestrator._settings.workdir or ".").resolve()
            tasks = [_item_task(make_prompt(item), item, root) for item in inputs]
            return orchestrator.execute(tasks, name=make_prompt.__name__)

        return run_all

    return decorate


def _item_task(prompt: str, item: Any, root: Path) -> str | TaskInput:
    """The prompt made for `item`, with the item in it: attached when it is a file, else as text."""
    if isinstance(item, str | PathLike):
        path = (root / Path(item)).resolve()
        if path.is_relative_to(root) and path.is_file():
            return TaskInput(prompt=prompt, files=[path.relative_to(root).as_posix()])
    text = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False, default=str)
    # Prompts written around their item ("Review {path}") already carry it.
    return prompt if text in prompt else f"{prompt}\n\n{text}"

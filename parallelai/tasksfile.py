"""Tasks files (`tasks.yaml`) and command-line prompts, turned into a validated RunSpec.

    name: nightly review           # optional
    strategy: dag                  # parallel (default) | dag | batch | pipeline | mapreduce
    engine: echo                   # default engine for tasks that name none
    parallel: 20
    limits: {max_cost_usd: 5, max_tokens: 200000, fail_fast: false, per_engine: {claude-code: 5}}
    engines: {echo: {latency: 0.1}}
    defaults: {timeout: 120, retries: 2}
    tasks:
      - "a plain prompt"
      - {id: b, prompt: "use {{ output }}", depends_on: [t001]}

Strategies other than parallel/dag take `items` plus `prompt` (batch), `stages` (pipeline) or
`map`/`reduce` (mapreduce); see parallelai.orchestration.strategies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from parallelai.errors import DependencyCycleError, InputError, UnknownDependencyError
from parallelai.models import STRATEGY_NAMES, RunLimits, RunSpec, Task, TaskOptions
from parallelai.orchestration.dag import assign_ids, validate_graph
from parallelai.orchestration.strategies import Work, compile_work
from parallelai.yamlsource import YamlDocument, read_yaml

_RUN_KEYS = {"name", "strategy", "engine", "parallel", "limits", "engines", "defaults"}
_WORK_ADAPTER: TypeAdapter[Any] = TypeAdapter(Work)


@dataclass(frozen=True)
class RunOptions:
    """What the command line (or an API call) says about a run; it wins over the tasks file."""

    name: str | None = None
    engine: str | None = None
    parallel: int | None = None
    strategy: str | None = None
    timeout: float | None = None
    retries: int | None = None
    max_cost_usd: float | None = None
    max_tokens: int | None = None
    fail_fast: bool | None = None
    use_cache: bool = True
    engine_options: dict[str, Any] = field(default_factory=dict)
    workdir: str | None = None


def spec_from_prompts(prompts: Sequence[str], options: RunOptions) -> RunSpec:
    if options.strategy not in (None, "parallel"):
        raise InputError(
            f"prompts on the command line run with the parallel strategy; for "
            f"{options.strategy!r} write a tasks file (--tasks-file)"
        )
    task_options = _task_defaults({}, options)
    try:
        tasks = [Task(prompt=prompt, options=TaskOptions.model_validate(task_options)) for prompt in prompts]
    except ValidationError as error:
        raise InputError(_first_problem(error)) from None
    return _run_spec(tasks, "parallel", {}, options)


def spec_from_file(path: Path, options: RunOptions) -> RunSpec:
    document = read_yaml(path)
    data = document.data
    if not isinstance(data, dict):
        raise document.error(
            "a tasks file is a mapping with at least `tasks:` (or `items:` for batch, pipeline and mapreduce)"
        )
    strategy = options.strategy or data.get("strategy") or _default_strategy(data)
    if strategy not in STRATEGY_NAMES:
        raise document.error(
            f"strategy: unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGY_NAMES)}",
            ("strategy",),
        )
    work_data = {key: value for key, value in data.items() if key not in _RUN_KEYS}
    work_data["strategy"] = strategy
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise document.error("defaults: must be a mapping of task options", ("defaults",))
    _normalise_entries(work_data, _task_defaults(defaults, options))
    try:
        work = _WORK_ADAPTER.validate_python(work_data)
    except ValidationError as error:
        raise document.validation_error(error, skip=1) from None
    tasks = assign_ids(compile_work(work))
    try:
        validate_graph(tasks)
    except (DependencyCycleError, UnknownDependencyError) as error:
        task_id = error.cycle[0] if isinstance(error, DependencyCycleError) else error.task_id
        index = next(i for i, task in enumerate(tasks) if task.id == task_id)
        location: tuple[str | int, ...] = ("tasks", index) if "tasks" in work_data else ()
        raise document.error(str(error), location) from None
    settings = data.get("engines") or {}
    limits = data.get("limits") or {}
    if not isinstance(settings, dict) or not isinstance(limits, dict):
        raise document.error(
            "engines and limits must be mappings",
            ("engines" if not isinstance(settings, dict) else "limits",),
        )
    name = options.name or data.get("name")
    file_options = RunOptions(
        name=name if isinstance(name, str) else None,
        engine=options.engine or data.get("engine"),
        parallel=options.parallel or data.get("parallel"),
        max_cost_usd=options.max_cost_usd,
        max_tokens=options.max_tokens,
        fail_fast=options.fail_fast,
        use_cache=options.use_cache,
        engine_options=options.engine_options,
        workdir=options.workdir or str(path.resolve().parent),
    )
    return _run_spec(tasks, strategy, settings, file_options, limits, document)


def _default_strategy(data: dict[str, Any]) -> str:
    tasks = data.get("tasks")
    if isinstance(tasks, list) and any(isinstance(task, dict) and task.get("depends_on") for task in tasks):
        return "dag"
    return "parallel"


def _task_defaults(defaults: dict[str, Any], options: RunOptions) -> dict[str, Any]:
    merged = dict(defaults)
    if options.timeout is not None:
        merged["timeout"] = options.timeout
    if options.retries is not None:
        merged["retries"] = options.retries
    return merged


def _normalise_entries(work_data: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Plain-string tasks become `{prompt: …}`; every task and stage gets the defaults under its
    own options (its own settings win)."""

    def merge(entry: Any) -> Any:
        if isinstance(entry, str):
            entry = {"prompt": entry}
        if isinstance(entry, dict) and defaults:
            own = entry.get("options")
            entry = {
                **entry,
                "options": {**defaults, **own} if isinstance(own, dict) else own or dict(defaults),
            }
        return entry

    if isinstance(work_data.get("tasks"), list):
        work_data["tasks"] = [merge(task) for task in work_data["tasks"]]
    if isinstance(work_data.get("stages"), list):
        work_data["stages"] = [merge(stage) for stage in work_data["stages"]]
    for key in ("map", "reduce"):
        if key in work_data:
            work_data[key] = merge(work_data[key])
    if defaults and "prompt" in work_data and isinstance(work_data.get("options"), dict | None):
        work_data["options"] = {**defaults, **(work_data.get("options") or {})}


def _run_spec(
    tasks: list[Task],
    strategy: str,
    settings: dict[str, Any],
    options: RunOptions,
    limits: dict[str, Any] | None = None,
    document: YamlDocument | None = None,
) -> RunSpec:
    limits = dict(limits or {})
    if options.parallel is not None:
        limits["max_parallel"] = options.parallel
    if options.max_cost_usd is not None:
        limits["max_cost_usd"] = options.max_cost_usd
    if options.max_tokens is not None:
        limits["max_tokens"] = options.max_tokens
    if options.fail_fast is not None:
        limits["fail_fast"] = options.fail_fast
    engine = options.engine or "echo"
    engine_settings = {name: dict(value or {}) for name, value in settings.items()}
    if options.engine_options:
        engine_name = engine.partition(":")[0]
        engine_settings[engine_name] = {**engine_settings.get(engine_name, {}), **options.engine_options}
    try:
        return RunSpec(
            name=options.name,
            strategy=strategy,
            default_engine=engine,
            engine_settings=engine_settings,
            limits=RunLimits.model_validate(limits),
            use_cache=options.use_cache,
            workdir=options.workdir,
            tasks=tasks,
        )
    except ValidationError as error:
        if document is not None:
            raise document.validation_error(error, prefix=("limits",)) from None
        raise InputError(_first_problem(error)) from None


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    field_name = ".".join(str(part) for part in problem["loc"])
    return f"{field_name}: {problem['msg']}" if field_name else problem["msg"]

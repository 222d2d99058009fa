"""Checking a planned run against the installed engines and the workspace, before it is stored.

`plan_spec` is the last step of planning every run goes through (`OrchestrationService.submit`,
and `parallelai run --daemon` before it hands a run over): ids assigned, the graph and the
engines checked (aliases replaced by registered names), input files confined to the workspace. `engines_for` makes the run's engines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from parallelai.engines.base import Engine
from parallelai.engines.registry import EngineRegistry
from parallelai.errors import InputError
from parallelai.models import MAX_PARALLEL, MAX_PROMPT_CHARS, MAX_TASKS, EngineSpec, RunSpec, Task
from parallelai.orchestration.dag import assign_ids, validate_graph


def plan_spec(spec: RunSpec, registry: EngineRegistry) -> RunSpec:
    """Validate a spec and fill in what it leaves implicit (task ids, workdir). Raises InputError."""
    workdir = Path(spec.workdir or os.getcwd()).resolve()
    tasks = assign_ids(spec.tasks)
    if not tasks:
        raise InputError("a run needs at least one task")
    if len(tasks) > MAX_TASKS:
        raise InputError(f"{len(tasks):,} tasks: a run holds at most {MAX_TASKS:,}; split the work into runs")
    validate_graph(tasks)
    limits = spec.limits
    if max([limits.max_parallel, *limits.per_engine.values()]) > MAX_PARALLEL:
        raise InputError(
            f"parallel: at most {MAX_PARALLEL:,} sub-agents at once (limits of this run: {limits})"
        )
    for task in tasks:
        if not task.prompt.strip():
            raise InputError(f"task {task.id!r}: the prompt is empty; say what the sub-agent should do")
        if len(task.prompt) > MAX_PROMPT_CHARS:
            raise InputError(
                f"task {task.id!r}: the prompt has {len(task.prompt):,} characters, more than {MAX_PROMPT_CHARS:,}; "
                "give large inputs as `files`, which are read when the task starts"
            )
    _check_text(spec, tasks)
    spec, tasks = _engines_by_registered_name(spec, tasks, registry)
    _check_engine_options(spec, tasks, registry)
    for task in tasks:
        for name in task.files:
            path = (workdir / name).resolve()
            if not path.is_relative_to(workdir):
                raise InputError(f"task {task.id!r}: input file {name!r} is outside the workspace {workdir}")
            if not path.is_file():
                raise InputError(f"task {task.id!r}: input file {name!r} does not exist in {workdir}")
    return spec.model_copy(update={"tasks": tasks, "workdir": str(workdir)})


def _check_text(spec: RunSpec, tasks: list[Task]) -> None:
    """Every string of a run must be Unicode text that UTF-8 can carry: a lone surrogate (a YAML or
    JSON `\\ud800` escape, or command-line bytes that are not UTF-8) can be neither stored nor sent."""
    for task in tasks:
        if not _is_text(task.prompt):
            raise InputError(f"task {task.id!r}: the prompt {_NOT_TEXT}")
    try:
        spec.model_dump_json()
    except PydanticSerializationError:
        raise InputError(f"a name or setting of the run {_NOT_TEXT}") from None


_NOT_TEXT = (
    "has a lone surrogate (an escape such as \\ud800, or bytes that are not UTF-8), which is not text; "
    "write the characters themselves"
)


def _is_text(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _engines_by_registered_name(
    spec: RunSpec, tasks: list[Task], registry: EngineRegistry
) -> tuple[RunSpec, list[Task]]:
    """The spec with every engine called by its registered name: an alias (`claude_code`,
    `chatgpt`) is resolved here, once for every surface, so what is stored, cached, limited and
    shown has one name per engine. UnknownEngineError for a name that means none."""
    registry.require(sorted(engine_names(tasks, spec.default_engine, spec.fallbacks)))
    spelled: dict[str, str] = {}

    def registered(engine: str) -> str:
        if engine not in spelled:
            given = EngineSpec.parse(engine)
            spelled[engine] = str(EngineSpec(name=registry.canonical(given.name), model=given.model))
        return spelled[engine]

    tasks = [
        task
        if task.engine is None and not task.fallbacks
        else task.model_copy(
            update={
                "engine": registered(task.engine) if task.engine is not None else None,
                "fallbacks": [registered(name) for name in task.fallbacks],
            }
        )
        for task in tasks
    ]
    # Settings and limits may name engines this run does not use (a shared tasks file's, say), but
    # not engines that do not exist: a typo there would be ignored in silence.
    registry.require([*spec.engine_settings, *spec.limits.per_engine])
    settings: dict[str, dict[str, Any]] = {}
    for name, value in spec.engine_settings.items():  # in the order given: a later entry wins
        key = registry.resolve(name) or name
        settings[key] = {**settings.get(key, {}), **value}
    per_engine = {registry.resolve(name) or name: limit for name, limit in spec.limits.per_engine.items()}
    renamed = spec.model_copy(
        update={
            "default_engine": registered(spec.default_engine),
            "fallbacks": [registered(name) for name in spec.fallbacks],
            "engine_settings": settings,
            "limits": spec.limits.model_copy(update={"per_engine": per_engine}),
        }
    )
    return renamed, tasks


def _check_engine_options(spec: RunSpec, tasks: list[Task], registry: EngineRegistry) -> None:
    """A task's own `engine_options`, over the run's settings for its engine, must be settings that
    engine takes: refused now with where, rather than the task failing on them once the run runs."""
    for task in tasks:
        if not task.options.engine_options:
            continue
        name = EngineSpec.parse(task.engine or spec.default_engine).name
        model = registry.settings_model(name)
        if model is None:
            continue
        try:
            model.model_validate({**spec.engine_settings.get(name, {}), **task.options.engine_options})
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "settings"
            raise InputError(
                f"task {task.id!r}: engine_options for {name}: {where}: {problem['msg']}"
            ) from None


def engines_for(spec: RunSpec, registry: EngineRegistry) -> dict[str, Engine]:
    """One engine per distinct engine name of the run (fallbacks too), made with the run's settings for it."""
    engines: dict[str, Engine] = {}
    for name in sorted(engine_names(spec.tasks, spec.default_engine, spec.fallbacks)):
        try:
            engines[name] = registry.create(name, spec.engine_settings.get(name, {}))
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "settings"
            raise InputError(f"engine {name!r}: {where}: {problem['msg']}") from None
    return engines


def engine_names(tasks: Sequence[Task], default: str, fallbacks: Sequence[str] = ()) -> set[str]:
    """The engines the run's tasks may run on: their own or the default, and their fallbacks."""
    named = {task.engine or default for task in tasks}
    named.update(name for task in tasks for name in task.fallbacks)
    if any(task.engine is None and not task.fallbacks for task in tasks):
        named.update(fallbacks)
    # Each distinct `name[:model]` is parsed once, not once per task.
    return {EngineSpec.parse(engine).name for engine in named}

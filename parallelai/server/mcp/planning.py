"""A `start_run` call's arguments, turned into a validated RunSpec (the tasks-file rules, as a tool)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from parallelai.errors import InputError
from parallelai.models import RunSpec, Task, TaskOptions
from parallelai.orchestration.strategies import DagWork, ParallelWork, compile_work
from parallelai.server.mcp.schemas import TaskInput
from parallelai.tasksfile import RunOptions, spec_from_file, spec_from_prompts
from parallelai.templates.catalog import TemplateCatalog


def plan_start_run(
    tasks: Sequence[str | TaskInput] | None,
    template: str | None,
    tasks_file: str | None,
    params: Mapping[str, Any] | None,
    strategy: str | None,
    options: RunOptions,
    catalog: TemplateCatalog,
) -> RunSpec:
    """The run start_run asks for: exactly one of `tasks`, `template` and `tasks_file`, with the
    call's run options winning over the file's, as on the command line."""
    given = [
        f"`{name}`"
        for name, value in (("tasks", tasks), ("template", template), ("tasks_file", tasks_file))
        if value is not None
    ]
    if not given:
        raise InputError(
            "nothing to run: give `tasks` (a list of prompts or task objects), a `template` name "
            "(see list_templates) or a `tasks_file` path"
        )
    if len(given) > 1:
        raise InputError(f"give one of `tasks`, `template` or `tasks_file`, not {' and '.join(given)}")
    if template is not None:
        return catalog.plan(template, dict(params or {}), options)
    if params:
        raise InputError("`params` only applies with `template`; put values in each task's `inputs`")
    if tasks_file is not None:
        # Relative to the sub-agents' directory, else the server's; absolute, so errors say where.
        path = (Path(options.workdir or ".") / tasks_file).absolute()
        return spec_from_file(path, replace(options, strategy=strategy))
    return spec_from_tool_tasks(tasks or [], strategy, options)


def spec_from_tool_tasks(
    tasks: Sequence[str | TaskInput], strategy: str | None, options: RunOptions
) -> RunSpec:
    """Plain strings become independent tasks; objects may name ids, engines and dependencies."""
    if not tasks:
        raise InputError("`tasks` is empty: give at least one prompt")
    # The run-level options (engine, limits, defaults) follow the command line's rules exactly.
    base = spec_from_prompts([], replace(options, strategy=None))
    defaults: dict[str, Any] = {"timeout": options.timeout, "retries": options.retries}
    built: list[Task] = []
    try:
        for entry in tasks:
            item = TaskInput(prompt=entry) if isinstance(entry, str) else entry
            task_options = {key: value for key, value in defaults.items() if value is not None}
            if item.timeout_s is not None:
                task_options["timeout"] = item.timeout_s
            if item.engine_options:
                task_options["engine_options"] = item.engine_options
            built.append(
                Task(
                    id=item.id or "",
                    prompt=item.prompt,
                    engine=item.engine,
                    inputs=item.inputs,
                    files=item.files,
                    depends_on=item.depends_on,
                    options=TaskOptions.model_validate(task_options),
                )
            )
    except ValidationError as error:
        problem = error.errors()[0]
        raise InputError(f"tasks[{len(built)}]: {problem['msg']}") from None
    chosen = strategy or ("dag" if any(task.depends_on for task in built) else "parallel")
    if chosen == "dag":
        compiled = compile_work(DagWork(tasks=built))
    elif chosen == "parallel":
        compiled = compile_work(ParallelWork(tasks=built))
    else:
        raise InputError(
            f"strategy {chosen!r} is not available for a list of tasks; use 'parallel' "
            "(independent tasks) or 'dag' (tasks with depends_on)"
        )
    return base.model_copy(update={"tasks": compiled, "strategy": chosen})

"""Tasks files (`tasks.yaml`) and command-line prompts, turned into a validated RunSpec.

    name: nightly review           # optional
    strategy: dag                  # parallel (default) | dag | batch | pipeline | mapreduce
    engine: echo                   # default engine for tasks that name none
    # engine: [claude-code, codex]   # …and the engines its tasks move to when it refuses them
    parallel: 20
    limits: {max_cost_usd: 5, max_tokens: 200000, fail_fast: false, per_engine: {claude-code: 5},
             deadline_s: 3600}
    engines: {echo: {latency: 0.1}}
    defaults: {timeout: 120, retries: 2}
    gates: ["pytest -q", {command: "ruff check .", name: lint, timeout: 300}]
    isolation: true                # each task in its own git worktree (docs/isolation.md)
    task_gates: ["ruff check $PARALLELAI_TASK_FILES"]  # in each task's worktree (isolation only)
    backend: {ray: {address: auto}}  # or `ray`: attempts run on a Ray cluster (docs/ray.md)
    tasks:
      - "a plain prompt"
      - {id: b, prompt: "use {{ output }}", depends_on: [t001]}

Strategies other than parallel/dag take `items` plus `prompt` (batch), `stages` (pipeline) or
`map`/`reduce` (mapreduce); see parallelai.orchestration.strategies.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from parallelai.errors import DependencyCycleError, InputError, UnknownDependencyError
from parallelai.models import STRATEGY_NAMES, Backend, Gate, RunLimits, RunSpec, Task, TaskOptions
from parallelai.orchestration.dag import assign_ids, validate_graph
from parallelai.orchestration.strategies import DagWork, ParallelWork, Work, compile_work
from parallelai.run_request import GATES_ADAPTER, RunSettings, TaskInput
from parallelai.task_forms import expand_task
from parallelai.templates.catalog import LibraryCatalog, TemplateCatalog
from parallelai.yamlsource import YamlDocument, read_yaml

_RUN_KEYS = {"name", "strategy", "engine", "fallbacks", "parallel", "limits", "engines", "defaults", "gates", "isolation",
             "task_gates", "backend"}  # fmt: skip
_WORK_ADAPTER: TypeAdapter[Any] = TypeAdapter(Work)


def spec_from_prompts(prompts: Sequence[str], options: RunSettings) -> RunSpec:
    if options.strategy not in (None, "parallel", "adaptive"):
        raise InputError(
            f"prompts on the command line run with the parallel strategy; for "
            f"{options.strategy!r} write a tasks file (--tasks-file)"
        )
    task_options = _task_defaults({}, options)
    try:
        tasks = [Task(prompt=prompt, options=TaskOptions.model_validate(task_options)) for prompt in prompts]
    except ValidationError as error:
        raise InputError(_first_problem(error)) from None
    return _run_spec(tasks, options.strategy or "parallel", options)


def spec_from_file(path: Path, options: RunSettings, fallback: RunSettings | None = None) -> RunSpec:
    return spec_from_document(read_yaml(path), options, path.resolve().parent, fallback)


def spec_from_mapping(
    data: dict[str, Any], options: RunSettings, fallback: RunSettings | None = None
) -> RunSpec:
    """A tasks file's content given as data (the HTTP API's `work`); files are relative to `workdir`."""
    base = Path(options.workdir or ".").resolve()
    return spec_from_document(YamlDocument(Path("work"), data, {}), options, base, fallback)


def spec_from_tasks(
    entries: Sequence[str | TaskInput | Task], options: RunSettings, templates: TemplateCatalog | None = None
) -> RunSpec:
    """Plain strings become independent tasks; objects may name ids, engines and dependencies.

    A `Task` without options of its own (engine settings aside) gets the run's (timeout, retries);
    one with options keeps them.
    A task's `files` (paths or globs) are found in the workspace and their contents follow its
    prompt; a task naming a `template` becomes that template's tasks (parallelai/task_forms.py).
    """
    if not entries:
        raise InputError("`tasks` is empty: give at least one prompt")
    # The run-level options (engine, limits, defaults) follow the tasks file's rules exactly.
    base = spec_from_prompts([], options.model_copy(update={"strategy": None}))
    defaults = _task_defaults({}, options)
    built: list[Task] = []
    try:
        for entry in entries:
            if isinstance(entry, Task):
                # Options that set only engine settings (`Task(engine=Echo(reply=…))`) are not
                # options of its own: the task still takes the run's timeout and retries.
                given = entry.options.model_fields_set if "options" in entry.model_fields_set else set()
                own_options = bool(given - {"engine_options"})
                engine_options = entry.options.engine_options
                built.append(
                    entry
                    if own_options
                    else entry.model_copy(
                        update={
                            "options": TaskOptions.model_validate(
                                {**defaults, "engine_options": engine_options}
                            )
                        }
                    )
                )
                continue
            item = TaskInput(prompt=entry) if isinstance(entry, str) else entry
            own = {
                "timeout": item.timeout,
                "engine_options": item.engine_options,
                "output_schema": item.output_schema,
            }
            task_options = {**defaults, **{key: value for key, value in own.items() if value}}
            built.append(
                Task(
                    id=item.id or "",
                    prompt=item.prompt,
                    engine=item.engine,
                    fallbacks=item.fallbacks,
                    inputs=item.inputs,
                    files=item.files,
                    depends_on=item.depends_on,
                    gates=item.gates,
                    scope=item.scope,
                    options=TaskOptions.model_validate(task_options),
                )
            )
    except ValidationError as error:
        raise InputError(f"tasks[{len(built)}]: {_first_problem(error)}") from None
    built, gates = _expanded(built, options, templates)
    chosen = options.strategy or ("dag" if any(task.depends_on for task in built) else "parallel")
    if chosen in ("dag", "adaptive"):
        compiled = compile_work(DagWork(tasks=built))
    elif chosen == "parallel":
        compiled = compile_work(ParallelWork(tasks=built))
    else:
        raise InputError(
            f"strategy {chosen!r} is not available for a list of tasks; use 'parallel' "
            "(independent tasks) or 'dag' (tasks with depends_on), or give the work as a tasks file"
        )
    return base.model_copy(update={"tasks": compiled, "strategy": chosen, "gates": [*gates, *base.gates]})


def _expanded(
    tasks: list[Task], options: RunSettings, templates: TemplateCatalog | None
) -> tuple[list[Task], list[Gate]]:
    """Every task in its plain form (files attached, templates planned), and the templates' gates."""
    if not any(task.template is not None or task.files for task in tasks):
        return tasks, []
    catalog = templates or LibraryCatalog(Path(options.workdir) if options.workdir else None)
    used = {task.id for task in tasks if task.id}
    plain: list[Task] = []
    gates: list[Gate] = []
    for index, task in enumerate(tasks):
        prefix = task.id or task.template or ""
        if task.template is not None and not task.id:
            number = 1
            while prefix in used:  # a second task of the same template gets its own prefix
                number += 1
                prefix = f"{task.template}-{number}"
            used.add(prefix)
        try:
            more, brought = expand_task(task, options, catalog, prefix)
        except InputError as error:
            raise InputError(f"tasks[{index}]: {error}") from None
        plain.extend(more)
        gates.extend(brought)
    return plain, gates


def spec_from_document(
    document: YamlDocument, options: RunSettings, base: Path, fallback: RunSettings | None = None
) -> RunSpec:
    """A tasks file's document; relative paths in it (files, workdir) are relative to `base`.

    `options` win over what the file says; `fallback` (config defaults) fills only what neither gives.
    """
    data = document.data
    if not isinstance(data, dict):
        raise document.error(
            "a tasks file is a mapping with at least `tasks:` (or `items:` for batch, pipeline and mapreduce)"
        )
    # A template given as a tasks file (people paste the announcement's `parallel_tasks:` one):
    # say what it is and how to run it, rather than "tasks: Field required".
    if "tasks" not in data and ("parallel_tasks" in data or "groups" in data):
        key = "parallel_tasks" if "parallel_tasks" in data else "groups"
        raise document.error(
            f"`{key}:` makes this a template, not a tasks file; run it with "
            "`parallelai execute --template FILE` (docs/templates.md)",
            (key,),
        )
    if fallback is not None:
        options = options.over(_without(fallback, _settings_in_file(data)))
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
    gates = _gates(document, data, "gates")
    task_gates = _gates(document, data, "task_gates")
    name = options.name or data.get("name")
    isolation = data.get("isolation")
    if not isinstance(isolation, bool | None):
        raise document.error("isolation: must be true or false", ("isolation",))
    engine, fallbacks = options.engine, options.fallbacks
    if engine is None:
        engine, own = _file_engine(document, data)
        fallbacks = fallbacks or own  # `--fallback` wins over the file's
    file_options = options.model_copy(
        update={
            "name": name if isinstance(name, str) else None,
            "engine": engine,
            "fallbacks": fallbacks,
            "parallel": options.parallel or data.get("parallel"),
            "engines": {**settings, **options.engines},
            "workdir": options.workdir or str(base),
            "isolation": options.isolation if options.isolation is not None else isolation,
            "task_gates": [*task_gates, *options.task_gates],
            "backend": options.backend if options.backend is not None else _backend(document, data),
        }
    )
    return _run_spec(tasks, strategy, file_options, limits, document, gates)


def _file_engine(document: YamlDocument, data: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The file's `engine` (a name, or a list: the engine, then its fallbacks) and `fallbacks`."""
    given = {key: data[key] for key in ("engine", "fallbacks") if data.get(key) is not None}
    try:
        settings = RunSettings.model_validate(given)
    except ValidationError as error:
        problem = error.errors()[0]
        where = tuple(problem["loc"]) or ("engine",)
        raise document.error(f"{'.'.join(map(str, where))}: {problem['msg']}", where) from None
    return settings.engine, settings.fallbacks


def _backend(document: YamlDocument, data: dict[str, Any]) -> Backend | None:
    """The file's `backend:` (`ray`, or `{ray: {address: ...}}`), if it names one."""
    if data.get("backend") is None:
        return None
    try:
        return Backend.model_validate(data["backend"])
    except ValidationError as error:
        problem = error.errors()[0]
        where = ("backend", *problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        raise document.error(f"{'.'.join(map(str, where))}: {message}", where) from None


def _gates(document: YamlDocument, data: dict[str, Any], key: str) -> list[Gate]:
    try:
        return GATES_ADAPTER.validate_python(data.get(key) or [])
    except ValidationError as error:
        problem = error.errors()[0]
        where = (key, *problem["loc"])
        raise document.error(f"{'.'.join(map(str, where))}: {problem['msg']}", where) from None


def _settings_in_file(data: dict[str, Any]) -> set[str]:
    """The names of the run settings a tasks file gives itself (top level, `limits:`, `defaults:`)."""
    named = {
        key
        for key in ("engine", "fallbacks", "parallel", "isolation", "backend")
        if data.get(key) is not None
    }
    if "engine" in named:
        named.add("fallbacks")  # a config's fallbacks back the config's engine, not the file's
    for block in ("limits", "defaults"):
        if isinstance(data.get(block), dict):
            named |= {"parallel" if key == "max_parallel" else key for key in data[block]}
    return named


def _without(settings: RunSettings, names: set[str]) -> RunSettings:
    kept = settings.model_dump(exclude_unset=True, exclude=names)
    return RunSettings.model_validate(kept)


def _default_strategy(data: dict[str, Any]) -> str:
    tasks = data.get("tasks")
    if isinstance(tasks, list) and any(isinstance(task, dict) and task.get("depends_on") for task in tasks):
        return "dag"
    return "parallel"


def _task_defaults(defaults: dict[str, Any], options: RunSettings) -> dict[str, Any]:
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
    options: RunSettings,
    limits: dict[str, Any] | None = None,
    document: YamlDocument | None = None,
    gates: Sequence[Gate] = (),
) -> RunSpec:
    limits = dict(limits or {})
    given = options.limits_given()
    if "per_engine" in given:
        given["per_engine"] = {**limits.get("per_engine", {}), **given["per_engine"]}
    limits.update(given)
    try:
        return RunSpec(
            name=options.name,
            strategy=strategy,
            default_engine=options.engine_or_default,
            fallbacks=options.fallbacks,
            engine_settings=options.settings_per_engine(),
            limits=RunLimits.model_validate(limits),
            use_cache=options.use_cache,
            workdir=options.workdir,
            gates=[*gates, *options.gates],  # the file's own first, then those the user added
            isolation=bool(options.isolation),
            task_gates=options.task_gates,
            backend=options.backend,
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

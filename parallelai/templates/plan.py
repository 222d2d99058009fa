"""Planning: a template plus parameters becomes a RunSpec — a DAG of the core's Tasks.

Per group: `parallel` makes one task per item (or one task when the group has no items),
`batch` one task per `batch_size` items, `mapreduce` one map task per item plus the core's tree
of reduce tasks. Task ids are `GROUP-0001` in item order, so item X of every group has the same
number. `wait: item` makes item X of B depend only on item X of A (matched by the item's key:
its path or row); `wait: all` on every task of A — or, for a mapreduce group, on its last reduce.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parallelai.engines.registry import default_registry
from parallelai.errors import FileSelectionError
from parallelai.models import EngineSpec, Gate, RunLimits, RunSpec, Task, TaskOptions
from parallelai.orchestration.dag import validate_graph
from parallelai.orchestration.strategies import MapReduceWork, Stage, compile_work
from parallelai.run_request import RunSettings
from parallelai.templates.check import check_example, is_enabled
from parallelai.templates.files import DEFAULT_MAX_BYTES, DEFAULT_MAX_TASKS
from parallelai.templates.items import GroupItems, Item, collect_items
from parallelai.templates.loader import LoadedTemplate
from parallelai.templates.params import resolve_params
from parallelai.templates.render import LITERALS, PromptRenderer, Rendered, SourceRef
from parallelai.templates.schema import Group, Template, ToolPermissions
from parallelai.workspaces import has_commit

# Read-only groups keep claude-code away from its file-changing tools.
_CLAUDE_EDIT_TOOLS = ["Edit", "MultiEdit", "Write", "NotebookEdit"]


@dataclass(frozen=True, slots=True)
class PlannedTask:
    """What a task is about, for reports: its group, and the file or row it works on."""

    task_id: str
    group: str
    label: str
    file: str | None = None
    row: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TemplatePlan:
    loaded: LoadedTemplate
    params: dict[str, Any]
    spec: RunSpec
    tasks: dict[str, PlannedTask]
    skipped: dict[str, str]  # files left out, and why
    # Its agents edit files, not isolated: asked so (`--no-isolate`), or the workdir is in no git
    # repository with a commit. The verbs say so before the run starts.
    edits_in_place: bool = False

    @property
    def count(self) -> int:
        return len(self.spec.tasks)


def plan_template(
    loaded: LoadedTemplate,
    given: Mapping[str, Any],
    settings: RunSettings,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> TemplatePlan:
    """The run `loaded` describes with the parameters `given`, under the run's `settings`.

    Files are found under `settings.workdir` (default: the current directory); at most
    `settings.max_tasks` tasks (default 1000) and files of at most `max_bytes` are planned.
    """
    template = loaded.template
    # Resolved once, not per task: the run's engine, else the template's, else the first assistant
    # ready here. A group's own engine still wins over all three.
    settings = settings.model_copy(
        update={"engine": settings.engine or template.engine or settings.engine_or_default}
    )
    params = resolve_params(template, given)
    workdir = Path(settings.workdir or ".").resolve()
    max_tasks = settings.max_tasks or DEFAULT_MAX_TASKS
    renderer = PromptRenderer()
    base = {**params, "params": params, "template": template.name}
    enabled = [
        name
        for name, group in template.groups.items()
        if group.when is None
        or is_enabled(
            renderer.render_text(group.when, {**base, "group": name}, loaded.ref("groups", name, "when"))
        )
    ]
    items = collect_items(
        loaded, params, workdir, renderer, enabled, max_tasks=max_tasks, max_bytes=max_bytes
    )
    planner = _Planner(loaded, params, settings, renderer)
    for name in _dependencies_first(template, enabled):
        planner.plan_group(name, template.groups[name], items.by_group.get(name))
    if not planner.tasks:
        raise FileSelectionError(_nothing_planned(template.name, workdir, items))
    if len(planner.tasks) > max_tasks:
        raise FileSelectionError(
            f"template {template.name!r} plans {len(planner.tasks)} tasks, more than the limit of "
            f"{max_tasks}; narrow the files or input, or raise --max-tasks"
        )
    validate_graph(planner.tasks)
    has_deps = any(task.depends_on for task in planner.tasks)
    edits = any(template.groups[name].tools.edit for name in enabled)
    spec = RunSpec(
        name=settings.name or template.name,
        strategy="dag" if has_deps else "parallel",
        default_engine=settings.engine_or_default,
        fallbacks=settings.fallbacks,
        engine_settings=settings.settings_per_engine(),
        limits=RunLimits.model_validate(
            {"max_parallel": template.max_parallel or RunLimits().max_parallel} | settings.limits_given()
        ),
        use_cache=settings.use_cache,
        workdir=str(workdir),
        gates=[*_gates(loaded, renderer, base), *settings.gates],
        isolation=_isolation(settings.isolation, edits=edits, workdir=workdir),
        task_gates=settings.task_gates,
        backend=settings.backend,
        tasks=planner.tasks,
    )
    return TemplatePlan(loaded, params, spec, planner.planned, items.skipped, edits and not spec.isolation)


def _isolation(asked: bool | None, *, edits: bool, workdir: Path) -> bool:
    """Whether the run isolates its tasks: as asked, else when it edits files and the workdir is in
    a git repository with a commit (isolation needs one; elsewhere agents edit the workdir in
    place, as without it: `TemplatePlan.edits_in_place` says so)."""
    if asked is not None:
        return asked
    return edits and has_commit(workdir)


def _nothing_planned(template: str, workdir: Path, items: GroupItems) -> str:
    """Why a template planned no task: which globs matched nothing, and which files were left out."""
    globs = sorted({glob for group_globs in items.unmatched.values() for glob in group_globs})
    why = f"no files matched {', '.join(globs)} under {workdir}" if globs else "its groups have no items"
    if items.skipped:
        left_out = "; ".join(f"{path}: {reason}" for path, reason in list(items.skipped.items())[:5])
        why += f" (left out: {left_out})"
    return f"template {template!r} planned no tasks: {why}"


class _Planner:
    def __init__(
        self, loaded: LoadedTemplate, params: dict[str, Any], settings: RunSettings, renderer: PromptRenderer
    ) -> None:
        self._loaded = loaded
        self._settings = settings
        self._renderer = renderer
        self._base = {**params, "params": params, "template": loaded.template.name}
        self.tasks: list[Task] = []
        self.planned: dict[str, PlannedTask] = {}
        self._by_key: dict[str, dict[str, str]] = {}  # group -> item key -> task id
        self._finals: dict[str, list[str]] = {}  # group -> the task ids `wait: all` waits for

    def plan_group(self, name: str, group: Group, items: list[Item] | None) -> None:
        ref = self._loaded.ref("groups", name, "prompt")
        context = {**self._base, "group": name}
        with_content = "content" in group.prompt
        if items is None:
            self._add(name, group, name, name, context, ref, None)
            self._finals[name] = [name]
        elif group.strategy == "batch":
            assert group.batch_size is not None
            size = group.batch_size
            for number, start in enumerate(range(0, len(items), size), 1):
                chunk = items[start : start + size]
                batch = {**context, "items": [item.context(with_content) for item in chunk]}
                label = f"{chunk[0].label} … {chunk[-1].label}" if len(chunk) > 1 else chunk[0].label
                self._add(name, group, f"{name}-{number:04d}", label, batch, ref, None)
            self._finals[name] = [task.id for task in self.tasks if self.planned[task.id].group == name]
        else:
            self._by_key[name] = {}
            for item in items:
                task_id = f"{name}-{item.index:04d}"
                self._add(
                    name, group, task_id, item.label, {**context, **item.context(with_content)}, ref, item
                )
                self._by_key[name][item.key] = task_id
            self._finals[name] = list(self._by_key[name].values())
            if group.strategy == "mapreduce":
                self._add_reduce(name, group, context)

    def _add_reduce(self, name: str, group: Group, context: dict[str, Any]) -> None:
        assert group.reduce is not None
        map_ids = self._finals[name]
        shape = compile_work(
            MapReduceWork(items=map_ids, map=Stage(prompt="-"), reduce=Stage(prompt="-"), fan_in=group.fan_in)
        )
        # The core's tree names map tasks map-0001…; ours are GROUP-0001…, in the same order.
        rename = {f"map-{i:04d}": task_id for i, task_id in enumerate(map_ids, 1)}
        ref = self._loaded.ref("groups", name, "reduce")
        last = ""
        for node in shape[len(map_ids) :]:
            task_id = f"{name}-{node.id}"
            rename[node.id] = task_id
            deps = [rename[dep] for dep in node.depends_on]
            rendered = self._renderer.render(group.reduce, context, ref, {"output": "{{ output }}"})
            self._append(name, group, task_id, "reduce", rendered, deps, None, context)
            last = task_id
        self._finals[name] = [last]

    def _add(
        self,
        name: str,
        group: Group,
        task_id: str,
        label: str,
        context: dict[str, Any],
        ref: SourceRef,
        item: Item | None,
    ) -> None:
        deps: list[str] = []
        slots: dict[str, str] = {}
        for dependency in group.dependencies():
            if dependency.wait == "item":
                assert item is not None  # check_template guarantees per-item groups have items
                other = self._by_key.get(dependency.group, {}).get(item.key)
                if other is None:
                    raise ref.error(
                        f"item {item.label!r} has no counterpart in group {dependency.group!r} (wait: item)"
                    )
                ids = [other]
            else:
                ids = self._finals.get(dependency.group, [])  # [] when `when:` left it out
            deps.extend(ids)
            slots[f"outputs.{dependency.group}"] = self._joined(ids)
        if slots:
            slots["output"] = self._joined(deps)
        rendered = self._renderer.render(group.prompt, context, ref, slots)
        self._append(name, group, task_id, label, rendered, deps, item, context)

    def _scope(self, name: str, group: Group, context: dict[str, Any]) -> list[str]:
        """The group's `scope`, rendered for this task: one glob per line of each entry."""
        scope: list[str] = []
        for index, entry in enumerate(group.scope):
            ref = self._loaded.ref("groups", name, "scope", index)
            text = self._renderer.render_text(entry, context, ref) if "{" in entry else entry
            scope.extend(line.strip() for line in text.splitlines() if line.strip())
        return scope

    def _append(
        self,
        name: str,
        group: Group,
        task_id: str,
        label: str,
        rendered: Rendered,
        deps: list[str],
        item: Item | None,
        context: dict[str, Any],
    ) -> None:
        inputs: dict[str, Any] = {"group": name}
        if item is not None and item.file is not None:
            inputs["file"] = item.file.path
        if item is not None and item.row is not None:
            inputs["row"] = item.row
        if rendered.literals:
            inputs[LITERALS] = rendered.literals
        # An alias (`claude_code`) must get the same per-engine options as the name it stands for.
        spelled = EngineSpec.parse(group.engine or self._settings.engine_or_default).name
        engine = default_registry().resolve(spelled) or spelled
        options = TaskOptions(
            timeout=group.timeout or self._settings.timeout,
            retries=_first_set(group.retries, self._settings.retries, 2),
            output_schema=group.output_schema,
            engine_options=self._engine_options(engine, name, group, context, label == "reduce"),
        )
        self.tasks.append(
            Task(
                id=task_id,
                prompt=rendered.text,
                engine=group.engine,
                inputs=inputs,
                files=[item.file.path] if item is not None and item.file is not None else [],
                scope=self._scope(name, group, context),
                options=options,
                depends_on=deps,
            )
        )
        self.planned[task_id] = PlannedTask(
            task_id, name, label, item.file.path if item and item.file else None, item.row if item else None
        )

    def _engine_options(
        self, engine: str, name: str, group: Group, context: dict[str, Any], is_reduce: bool
    ) -> dict[str, Any]:
        if engine == "echo":
            if group.example_output is not None and not is_reduce:
                ref = self._loaded.ref("groups", name, "example_output")
                example = _render_value(self._renderer, group.example_output, context, ref)
                if group.output_schema is not None:
                    check_example(group.output_schema, example, ref)
                return {"reply": json.dumps(example, ensure_ascii=False)}
            return {}
        if engine == "claude-code":
            return _claude_tools(group.tools)
        return {}

    def _joined(self, ids: list[str]) -> str:
        """Core placeholders for dependency outputs; several are labelled by the item they are about."""
        if len(ids) == 1:
            return "{{ outputs." + ids[0] + " }}"
        # Labels come from paths and cells: braces in them must not look like placeholders.
        sections = [
            f"### {self.planned[task_id].label.replace('{', '(').replace('}', ')')}\n"
            + "{{ outputs."
            + task_id
            + " }}"
            for task_id in ids
        ]
        return "\n\n".join(sections)


def _gates(loaded: LoadedTemplate, renderer: PromptRenderer, base: Mapping[str, Any]) -> list[Gate]:
    """The template's gates with their commands rendered; one whose `when` (or command) renders
    empty is left out, as a group is."""
    gates = []
    for index, declared in enumerate(loaded.template.gates):
        if declared.when is not None:
            when = renderer.render_text(declared.when, base, loaded.ref("gates", index, "when"))
            if not is_enabled(when):
                continue
        command = renderer.render_text(declared.command, base, loaded.ref("gates", index, "command"))
        if command.strip():
            gates.append(Gate(command=command.strip(), name=declared.name, timeout=declared.timeout))
    return gates


def _dependencies_first(template: Template, names: list[str]) -> list[str]:
    """Groups in the order written, except that a group comes after those it waits for."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered or name not in names:
            return
        for dependency in template.groups[name].dependencies():
            visit(dependency.group)  # check_template refused cycles, so this ends
        ordered.append(name)

    for name in names:
        visit(name)
    return ordered


def _first_set(*values: int | None) -> int:
    return next(value for value in values if value is not None)


def _claude_tools(tools: ToolPermissions) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if tools.allow:
        options["allowed_tools"] = list(tools.allow)
    deny = [*tools.deny, *([] if tools.edit else _CLAUDE_EDIT_TOOLS)]
    if deny:
        options["disallowed_tools"] = list(dict.fromkeys(deny))
    return options


def _render_value(renderer: PromptRenderer, value: Any, context: Mapping[str, Any], ref: SourceRef) -> Any:
    """An example answer with its strings rendered, so each task's echo reply names its own file."""
    if isinstance(value, str):
        return renderer.render_text(value, context, ref) if "{" in value else value
    if isinstance(value, list):
        return [_render_value(renderer, part, context, ref) for part in value]
    if isinstance(value, dict):
        return {key: _render_value(renderer, part, context, ref) for key, part in value.items()}
    return value

"""A run's task graph: checked before anything starts (ids, dependencies, cycles, placeholders),
and walked when part of it runs again."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from parallelai.errors import DependencyCycleError, InputError, UnknownDependencyError
from parallelai.models import Task
from parallelai.orchestration.prompting import unknown_placeholders


def assign_ids(tasks: Sequence[Task]) -> list[Task]:
    """Give unnamed tasks the id `t<position>` (1-based, zero-padded to sort well)."""
    width = max(3, len(str(len(tasks))))
    return [
        task if task.id else task.model_copy(update={"id": f"t{i:0{width}d}"})
        for i, task in enumerate(tasks, 1)
    ]


def validate_graph(tasks: Sequence[Task]) -> None:
    ids = [task.id for task in tasks]
    seen: set[str] = set()
    for task_id in ids:
        if task_id in seen:
            raise InputError(f"two tasks have the id {task_id!r}; task ids must be unique in a run")
        seen.add(task_id)
    for task in tasks:
        for dependency in task.depends_on:
            if dependency not in seen:
                raise UnknownDependencyError(task.id, dependency, ids)
            if dependency == task.id:
                raise DependencyCycleError([task.id])
        unknown = unknown_placeholders(task)
        if unknown:
            raise InputError(
                f"task {task.id!r}: the prompt uses {{{{ {unknown[0]} }}}}, which is neither an input "
                f"({', '.join(sorted(task.inputs)) or 'none'}) nor the output of a dependency"
            )
    cycle = find_cycle(tasks)
    if cycle:
        raise DependencyCycleError(cycle)


def find_cycle(tasks: Sequence[Task]) -> list[str] | None:
    """A cycle as the list of its task ids, or None; iterative so deep chains cannot overflow."""
    edges = {task.id: task.depends_on for task in tasks}
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(edges, white)
    for root, dependencies in edges.items():
        if color[root] != white:
            continue
        if not dependencies:  # most tasks: nothing to walk
            color[root] = black
            continue
        path: list[str] = [root]
        iterators = [iter(edges[root])]
        color[root] = grey
        while iterators:
            nxt = next(iterators[-1], None)
            if nxt is None:
                color[path.pop()] = black
                iterators.pop()
            elif color[nxt] == grey:
                return path[path.index(nxt) :]
            elif color[nxt] == white:
                color[nxt] = grey
                path.append(nxt)
                iterators.append(iter(edges[nxt]))
    return None


def dependents_of(tasks: Sequence[Task]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {task.id: [] for task in tasks}
    for task in tasks:
        for dependency in task.depends_on:
            result[dependency].append(task.id)
    return result


def with_dependents(chosen: Iterable[str], tasks: Sequence[Task], keep: Callable[[str], bool]) -> list[str]:
    """`chosen` and every task that depends on one of them, directly or not, unless `keep(task_id)`
    (a task to leave as it is, such as one that succeeded), in a stable order."""
    dependents = dependents_of(tasks)
    again = dict.fromkeys(chosen)
    pending = list(again)
    while pending:
        for dependent in dependents[pending.pop()]:
            if dependent not in again and not keep(dependent):
                again[dependent] = None
                pending.append(dependent)
    return list(again)

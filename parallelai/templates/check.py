"""Checking a template before anything is planned: groups, dependencies, variables, output schemas.

Everything here is static — it needs no files and no parameters — so `templates validate`
catches the same mistakes a run would, with the line they are on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema
from jsonschema.validators import validator_for

from parallelai.models import Task
from parallelai.orchestration.dag import find_cycle
from parallelai.templates.render import PromptRenderer, SourceRef
from parallelai.templates.schema import Group, Template

Locate = Callable[..., SourceRef]
# Names every prompt sees; a parameter may not take one of them.
BASE_NAMES = frozenset({"params", "template", "group"})
ITEM_NAMES = {"files": ("file", "content", "item", "index"), "input": ("row", "item", "index")}
RESERVED = BASE_NAMES | {"file", "content", "row", "item", "index", "items", "output", "outputs"}


def item_source(template: Template, name: str) -> str | None:
    """The group whose items `name` has: its own, or those of the group it waits on per item."""
    seen: set[str] = set()
    while name not in seen:
        seen.add(name)
        group = template.groups[name]
        if group.has_items:
            return name
        per_item = [dep.group for dep in group.dependencies() if dep.wait == "item"]
        if not per_item or per_item[0] not in template.groups:
            return None
        name = per_item[0]
    return None


def item_names(template: Template, name: str) -> tuple[str, ...]:
    """The item variables a group's prompt may use."""
    source = item_source(template, name)
    if source is None:
        return ()
    group = template.groups[source]
    names = ITEM_NAMES["files"] if group.files else ITEM_NAMES["input"]
    return ("items",) if template.groups[name].strategy == "batch" else names


def check_template(template: Template, locate: Locate) -> None:
    for parameter in template.parameters:
        if parameter in RESERVED:
            raise locate("parameters", parameter).error(f"{parameter!r} is reserved for prompts; rename it")
    for name, group in template.groups.items():
        _check_shape(name, group, locate)
        _check_dependencies(template, name, group, locate)
        _check_output_schema(name, group, locate)
    cycle = find_cycle(
        [
            Task(id=name, prompt="-", depends_on=[dep.group for dep in group.dependencies()])
            for name, group in template.groups.items()
        ]
    )
    if cycle:
        raise locate("groups", cycle[0], "depends_on").error(
            "groups depend on each other in a cycle: " + " -> ".join([*cycle, cycle[0]])
        )
    renderer = PromptRenderer()
    params = set(template.parameters)
    for name, group in template.groups.items():
        known = {*BASE_NAMES, *params, *item_names(template, name)}
        depends = [dep.group for dep in group.dependencies()]
        renderer.check(group.prompt, known, depends, locate("groups", name, "prompt"))
        if group.reduce is not None:
            renderer.check(
                group.reduce, {*BASE_NAMES, *params, "output"}, [], locate("groups", name, "reduce")
            )
        for index, glob in enumerate([*group.files, *group.exclude]):
            renderer.check(glob, {*BASE_NAMES, *params}, [], locate("groups", name, "files", index))
        if group.when is not None:
            renderer.check(group.when, {*BASE_NAMES, *params}, [], locate("groups", name, "when"))
        if group.input is not None:
            renderer.check(group.input, {*BASE_NAMES, *params}, [], locate("groups", name, "input"))


def is_enabled(text: str | None) -> bool:
    """How a rendered `when:` reads: empty, false, no, 0 and none leave the group out."""
    return text is None or text.strip().lower() not in ("", "false", "no", "0", "none", "off")


def _check_shape(name: str, group: Group, locate: Locate) -> None:
    where = locate("groups", name)
    if group.files and group.input:
        raise where.error("a group takes `files` or an `input` matrix, not both")
    if group.strategy == "mapreduce" and group.reduce is None:
        raise where.error("strategy: mapreduce needs a `reduce` prompt that combines {{ output }}")
    if group.reduce is not None and group.strategy != "mapreduce":
        raise where.error("`reduce` is only used by strategy: mapreduce")
    if group.strategy == "batch" and group.batch_size is None:
        raise where.error("strategy: batch needs `batch_size`")
    if group.strategy != "parallel" and not group.has_items:
        raise where.error(f"strategy: {group.strategy} needs items: give `files` or an `input`")


def _check_dependencies(template: Template, name: str, group: Group, locate: Locate) -> None:
    for index, dependency in enumerate(group.dependencies()):
        where = locate("groups", name, "depends_on", index)
        if dependency.group not in template.groups:
            known = ", ".join(other for other in template.groups if other != name)
            raise where.error(f"unknown group {dependency.group!r}; groups: {known}")
        if dependency.group == name:
            raise where.error("a group cannot depend on itself")
        if dependency.wait == "item":
            other = template.groups[dependency.group]
            if other.when is not None:
                raise where.error(
                    f"group {dependency.group!r} may be left out (`when:`); wait for it with wait: all"
                )
            if group.strategy != "parallel" or other.strategy != "parallel":
                raise where.error("wait: item pairs items one to one; both groups need strategy: parallel")
            if item_source(template, dependency.group) is None:
                raise where.error(f"wait: item needs items, but group {dependency.group!r} has none")


def _check_output_schema(name: str, group: Group, locate: Locate) -> None:
    if group.output_schema is None:
        if group.example_output is not None:
            raise locate("groups", name, "example_output").error("example_output needs an output_schema")
        return
    validator = validator_for(group.output_schema)
    try:
        validator.check_schema(group.output_schema)
    except jsonschema.SchemaError as error:
        raise locate("groups", name, "output_schema").error(
            f"not a valid JSON Schema: {error.message}"
        ) from None
    # An example with Jinja in it is checked once rendered, when the run is planned.
    if group.example_output is not None and "{{" not in json.dumps(group.example_output):
        check_example(group.output_schema, group.example_output, locate("groups", name, "example_output"))


def check_example(schema: dict[str, Any], example: Any, where: SourceRef) -> None:
    problem = jsonschema.exceptions.best_match(validator_for(schema)(schema).iter_errors(example))
    if problem is not None:
        path = "/".join(map(str, problem.absolute_path)) or "(root)"
        raise where.error(f"does not match output_schema at {path}: {problem.message}")

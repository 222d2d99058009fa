"""Filling a task's `{{ placeholders }}` from its inputs and its dependencies' outputs."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from parallelai.models import Task

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_.\-]+)?)\s*\}\}")
DEPENDENCY_NAMES = ("output", "outputs")


def needs_rendering(task: Task) -> bool:
    """Plain prompts pass through untouched, so `{{` in a question about Jinja is never an error."""
    return bool(task.inputs or task.depends_on)


def unknown_placeholders(task: Task) -> list[str]:
    if not needs_rendering(task):
        return []
    return [name for name in PLACEHOLDER.findall(task.prompt) if not _is_known(task, name)]


def render_prompt(task: Task, dependency_outputs: Mapping[str, str]) -> str:
    """One pass over the template: text substituted in is never scanned again."""
    if not needs_rendering(task):
        return task.prompt

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "output" or name == "outputs":
            return join_outputs([dependency_outputs.get(dep, "") for dep in task.depends_on])
        if name.startswith("outputs."):
            return dependency_outputs.get(name.removeprefix("outputs."), "")
        return _as_text(_lookup(task.inputs, name))

    return PLACEHOLDER.sub(value, task.prompt)


def join_outputs(outputs: Sequence[str]) -> str:
    return "\n\n".join(outputs)


def _is_known(task: Task, name: str) -> bool:
    if name in DEPENDENCY_NAMES:
        return bool(task.depends_on)
    if name.startswith("outputs."):
        return name.removeprefix("outputs.") in task.depends_on
    try:
        _lookup(task.inputs, name)
    except KeyError:
        return False
    return True


def _lookup(inputs: Mapping[str, Any], dotted: str) -> Any:
    value: Any = inputs
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "\n".join(value)
    return json.dumps(value, ensure_ascii=False, default=str)

"""The items of a task group: selected files, matrix rows, or those of the group it waits on per item."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parallelai.errors import FileSelectionError
from parallelai.templates.check import item_source
from parallelai.templates.files import DEFAULT_MAX_BYTES, SelectedFile, select_files
from parallelai.templates.inputs import read_rows
from parallelai.templates.loader import LoadedTemplate
from parallelai.templates.render import PromptRenderer


@dataclass(frozen=True, slots=True)
class Item:
    """One thing a task works on. `key` pairs items across groups (`wait: item`)."""

    key: str
    label: str
    index: int
    file: SelectedFile | None = None
    row: dict[str, Any] | None = None

    def context(self, with_content: bool) -> dict[str, Any]:
        if self.file is not None:
            values: dict[str, Any] = {"file": self.file.path, "item": self.file.path, "index": self.index}
            if with_content:
                values["content"] = self.file.read_text()
            return values
        return {"row": self.row, "item": self.row, "index": self.index}


@dataclass(slots=True)
class GroupItems:
    by_group: dict[str, list[Item]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    unmatched: dict[str, list[str]] = field(default_factory=dict)  # group -> its globs that found nothing


def collect_items(
    loaded: LoadedTemplate,
    params: Mapping[str, Any],
    workdir: Path,
    renderer: PromptRenderer,
    enabled: Sequence[str],
    *,
    max_tasks: int,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> GroupItems:
    """Items per group; groups with none are absent. Globs and input paths are rendered with params."""
    template = loaded.template
    context = {**params, "params": dict(params), "template": template.name}
    result = GroupItems()
    for name in enabled:
        group = template.groups[name]
        context["group"] = name
        if group.files:
            globs = _globs(renderer, group.files, context, loaded, name, "files")
            exclude = _globs(renderer, group.exclude, context, loaded, name, "exclude")
            try:
                selection = select_files(workdir, globs, exclude, max_files=max_tasks, max_bytes=max_bytes)
            except FileSelectionError as error:
                raise FileSelectionError(f"template {template.name!r}, group {name!r}: {error}") from None
            result.skipped.update(selection.skipped)
            if not selection.files:
                result.unmatched[name] = globs
            result.by_group[name] = [
                Item(key=f.path, label=f.path, index=i, file=f) for i, f in enumerate(selection.files, 1)
            ]
        elif group.input is not None:
            path_text = renderer.render_text(group.input, context, loaded.ref("groups", name, "input"))
            path = Path(path_text)
            rows = read_rows(path if path.is_absolute() else workdir / path, group.columns)
            result.by_group[name] = [
                Item(key=f"row-{i}", label=_row_label(row, i), index=i, row=row)
                for i, row in enumerate(rows, 1)
            ]
    for name in template.groups:
        source = item_source(template, name)
        if name not in result.by_group and source is not None and source in result.by_group:
            result.by_group[name] = result.by_group[source]
    return result


def _globs(
    renderer: PromptRenderer,
    patterns: list[str],
    context: Mapping[str, Any],
    loaded: LoadedTemplate,
    group: str,
    field_name: str,
) -> list[str]:
    """Rendered globs; one entry may render to several, one a line (`{% for g in files %}…`)."""
    globs: list[str] = []
    for index, pattern in enumerate(patterns):
        text = renderer.render_text(pattern, context, loaded.ref("groups", group, field_name, index))
        globs.extend(line.strip() for line in text.splitlines() if line.strip())
    return globs


def _row_label(row: Mapping[str, Any], index: int) -> str:
    first = next(iter(row.values()), None)
    return f"row {index}" + (f" ({first})" if isinstance(first, str | int | float) else "")

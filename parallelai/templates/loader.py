"""Finding and loading templates: a path, the project's `.parallelai/templates/`, or the built-in library.

A name is looked up in that order, so a project can override a built-in template by giving its
own file the same name; a few names people type for a built-in (`ALIASES`) find it too. A file in
the original format (`parallel_tasks:`, templates/original.py) is converted to the native one here,
so every surface that loads a template accepts both. Every problem is a `TemplateError` (or TasksFileError for YAML syntax)
carrying `file:line[:column]`; nothing is planned from a template that did not load cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from parallelai.errors import ParallelAIError, TemplateError, did_you_mean
from parallelai.templates.check import check_template
from parallelai.templates.original import convert, is_original, template_slug
from parallelai.templates.render import SourceRef
from parallelai.templates.schema import Template
from parallelai.yamlsource import YamlDocument, read_yaml

BUILTIN_DIR = Path(__file__).resolve().parent / "library"
PROJECT_DIR = Path(".parallelai") / "templates"
TemplateSource = Literal["builtin", "project", "path"]
_SUFFIXES = (".yaml", ".yml")
# Names people type for a template, and the template they mean (the announcement wrote
# `--template configurations`). A template really named so, in the project, still wins.
ALIASES = {"configurations": "configuration"}


@dataclass(frozen=True, slots=True)
class LoadedTemplate:
    template: Template
    path: Path
    source: TemplateSource
    document: YamlDocument  # the native template; in the original format, with the original's lines
    original: bool = False  # written in the original format (`parallel_tasks:`)

    def ref(self, *location: str | int) -> SourceRef:
        """Where a field of the template is, for error messages."""
        return SourceRef(self.path, self.document.line_of(location), ".".join(map(str, location)))


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    name: str
    description: str
    source: TemplateSource
    path: Path


def load_template(name_or_path: str, workdir: Path | None = None) -> LoadedTemplate:
    """Load by path (anything with a `/` or a YAML suffix), else by name: project first, then built-in."""
    root = (workdir or Path.cwd()).resolve()
    if "/" in name_or_path or "\\" in name_or_path or name_or_path.endswith(_SUFFIXES):
        path = Path(name_or_path)
        return parse_template(path if path.is_absolute() else root / path, "path")
    for name in dict.fromkeys((name_or_path, ALIASES.get(name_or_path, name_or_path))):
        for directory, source in ((root / PROJECT_DIR, "project"), (BUILTIN_DIR, "builtin")):
            for suffix in _SUFFIXES:
                candidate = directory / f"{name}{suffix}"
                if candidate.is_file():
                    return parse_template(candidate, source)  # type: ignore[arg-type]
    known = [info.name for info in list_templates(root)]
    raise TemplateError(
        name_or_path,
        f"no such template{did_you_mean(name_or_path, known)}; known templates: {', '.join(known)}",
    )


def resolve_alias(name: str, known: list[str]) -> str:
    """The template a name typed by a user means: itself when it is one, else its alias's target."""
    return name if name in known else ALIASES.get(name, name)


def parse_template(path: Path, source: TemplateSource = "path") -> LoadedTemplate:
    document = read_yaml(path)
    if not isinstance(document.data, dict):
        raise document.error("a template is a mapping with at least `name:` and `groups:`")
    original = is_original(document.data)
    if original:
        document = convert(document)
    try:
        template = Template.model_validate(document.data)
    except ValidationError as error:
        problem = error.errors()[0]
        location = tuple(problem["loc"])
        field = ".".join(map(str, location))
        message = _explain(problem["type"], field, problem["msg"], document.data)
        raise TemplateError(
            path, f"{field}: {message}" if field else message, document.line_of(location)
        ) from None
    loaded = LoadedTemplate(template, path, source, document, original)
    check_template(template, loaded.ref)
    return loaded


def list_templates(workdir: Path | None = None) -> list[TemplateInfo]:
    """Every template by name; a project template hides the built-in one of the same name."""
    root = (workdir or Path.cwd()).resolve()
    found: dict[str, TemplateInfo] = {}
    for directory, source in ((BUILTIN_DIR, "builtin"), (root / PROJECT_DIR, "project")):
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.suffix in _SUFFIXES:
                found[path.stem] = TemplateInfo(path.stem, _description(path), source, path)  # type: ignore[arg-type]
    return sorted(found.values(), key=lambda info: info.name)


def _explain(kind: str, field: str, message: str, data: dict[str, object]) -> str:
    """pydantic's message, said in the template's terms where a plain one would mislead."""
    if kind == "extra_forbidden":
        return "unknown field (check its spelling)"
    if field == "groups" and kind == "missing":
        if "tasks" in data:
            return (
                "missing: this looks like a tasks file (`tasks:`); run it with "
                "`parallelai run --tasks-file FILE` (docs/tasks-file.md)"
            )
        return (
            "missing: a template lists its work under `groups:` (named groups, docs/templates.md); "
            "the original format's `parallel_tasks:` list is accepted too"
        )
    if field == "name" and kind == "string_pattern_mismatch":
        slug = template_slug(str(data.get("name", "")))
        return (
            f"letters, digits and `_`, starting with a letter (e.g. {slug!r}); put free text in "
            "`description:`"
        )
    return message


def _description(path: Path) -> str:
    try:
        data = read_yaml(path).data
    except ParallelAIError as error:  # a broken project template is listed, not fatal to `templates list`
        return f"(cannot load: {error})"
    if not isinstance(data, dict):
        return ""
    # The original format's free-text name is its title, as the converted template's description says.
    text = data.get("description") or (data.get("name") if is_original(data) else "")
    return (str(text or "").strip().splitlines() or [""])[0]

"""Finding and loading templates: a path, the project's `.parallelai/templates/`, or the built-in library.

A name is looked up in that order, so a project can override a built-in template by giving its
own file the same name. Every problem is a `TemplateError` (or TasksFileError for YAML syntax)
carrying `file:line[:column]`; nothing is planned from a template that did not load cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from parallelai.errors import ParallelAIError, TemplateError, did_you_mean
from parallelai.templates.check import check_template
from parallelai.templates.render import SourceRef
from parallelai.templates.schema import Template
from parallelai.yamlsource import YamlDocument, read_yaml

BUILTIN_DIR = Path(__file__).resolve().parent / "library"
PROJECT_DIR = Path(".parallelai") / "templates"
TemplateSource = Literal["builtin", "project", "path"]
_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class LoadedTemplate:
    template: Template
    path: Path
    source: TemplateSource
    document: YamlDocument

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
    for directory, source in ((root / PROJECT_DIR, "project"), (BUILTIN_DIR, "builtin")):
        for suffix in _SUFFIXES:
            candidate = directory / f"{name_or_path}{suffix}"
            if candidate.is_file():
                return parse_template(candidate, source)  # type: ignore[arg-type]
    known = [info.name for info in list_templates(root)]
    raise TemplateError(
        name_or_path,
        f"no such template{did_you_mean(name_or_path, known)}; known templates: {', '.join(known)}",
    )


def parse_template(path: Path, source: TemplateSource = "path") -> LoadedTemplate:
    document = read_yaml(path)
    if not isinstance(document.data, dict):
        raise document.error("a template is a mapping with at least `name:` and `groups:`")
    try:
        template = Template.model_validate(document.data)
    except ValidationError as error:
        problem = error.errors()[0]
        location = tuple(problem["loc"])
        message = (
            "unknown field (check its spelling)" if problem["type"] == "extra_forbidden" else problem["msg"]
        )
        field = ".".join(map(str, location))
        raise TemplateError(
            path, f"{field}: {message}" if field else message, document.line_of(location)
        ) from None
    loaded = LoadedTemplate(template, path, source, document)
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


def _description(path: Path) -> str:
    try:
        data = read_yaml(path).data
    except ParallelAIError as error:  # a broken project template is listed, not fatal to `templates list`
        return f"(cannot load: {error})"
    return str(data.get("description", "")).strip().splitlines()[0] if isinstance(data, dict) else ""

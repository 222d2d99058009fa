"""The original template format (`parallel_tasks:`), checked and converted to the native format.

    name: Django to FastAPI Migration          # free text
    parallel_tasks:
      - analyze_models:
          engine: claude_code
          prompt: "Analyze Django models in {file}"
          files: "*/models.py"
      - generate_schemas:
          prompt: "Convert to Pydantic schemas"
          depends_on: analyze_models

The first announcement of parallelai showed templates in this form, and people paste it. It is
read here and handed to the loader as the native template it means (docs/templates.md, "The
original format", has the rules side by side), with every value still on its line in the file,
so a native error in a converted template points into the file the user wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parallelai.engines.registry import default_registry
from parallelai.errors import InputError, TemplateError
from parallelai.templates.check import ITEM_NAMES
from parallelai.templates.schema import GROUP_NAME
from parallelai.yamlsource import Location, YamlDocument

ORIGINAL_KEY = "parallel_tasks"
_DOCS = "docs/templates.md#the-original-format"
# `{file}`, `{outputs.step}` — one pair of braces around a name; `{{ x }}` is native Jinja and is left alone.
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}(?!\})")
# Prompt variables the native format gives some groups only: in the original form they are never parameters.
_CONTEXT_ONLY = frozenset({"file", "content", "item", "index", "row", "items", "output", "outputs", "params"})


class _OriginalTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    parallel_tasks: Annotated[list[Any], Field(min_length=1)]


class _OriginalStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str
    engine: str | None = None
    files: str | list[str] | None = None  # one glob, or several
    depends_on: str | list[str] | None = None  # one step, or several
    description: str = ""


@dataclass(slots=True)
class _Native:
    """The native template being built, and the line in the original file of each of its values."""

    document: YamlDocument
    data: dict[str, Any] = field(default_factory=dict)
    lines: dict[Location, int] = field(default_factory=dict)

    def place(self, native: Location, original: Location) -> None:
        line = self.document.line_of(original)
        if line is not None:
            self.lines.setdefault(native, line)


def is_original(data: Any) -> bool:
    """Whether a template file is written in the original form."""
    return isinstance(data, dict) and ORIGINAL_KEY in data


def convert(document: YamlDocument) -> YamlDocument:
    """The native template an original-form document means, with the original lines kept.

    Raises TemplateError, at the line in the original file, naming the native spelling.
    """
    data = document.data
    if "groups" in data:
        raise _error(
            document,
            (ORIGINAL_KEY,),
            "a template is written either with `parallel_tasks:` (the original form) or with `groups:` "
            "(the native form), not both",
        )
    try:
        top = _OriginalTemplate.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        where = tuple(problem["loc"])
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = (
                "not a field of the original form, which takes `name`, `description` and `parallel_tasks`; "
                "the native form (`groups:`) has more"
            )
        raise _error(document, where, f"{_field(where)}: {message}") from None
    native = _Native(document)
    native.place((), ())
    steps = [_step(document, index, entry) for index, entry in enumerate(top.parallel_tasks)]
    names = [name for name, _ in steps]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise _error(
                document, (ORIGINAL_KEY, index), f"a second step named {name!r}; step names are unique"
            )
    slug = template_slug(top.name)
    native.data["name"] = slug
    native.place(("name",), ("name",))
    # The free-text name is what people called it: kept as the description, shown by `templates list`.
    title = top.name.strip()
    description = top.description.strip()
    if title != slug:
        description = f"{title} — {description}" if description else title
    if description:
        native.data["description"] = description
        native.place(("description",), ("description",) if top.description else ("name",))
    parameters: dict[str, Any] = {}
    engines = {engine_name(step.engine) for _, step in steps if step.engine}
    # One engine for every step is the template's default, which the run's engine replaces
    # (`--engine echo` stays a dry run); steps naming different engines keep their own.
    shared_engine = engines.pop() if len(engines) == 1 else None
    if shared_engine is not None:
        native.data["engine"] = shared_engine
        first = next(index for index, (_, step) in enumerate(steps) if step.engine)
        native.place(("engine",), (ORIGINAL_KEY, first, names[first], "engine"))
    groups: dict[str, Any] = {}
    for index, (name, step) in enumerate(steps):
        groups[name] = _group(native, index, name, step, names, shared_engine, parameters)
    if parameters:
        native.data["parameters"] = parameters
    native.data["groups"] = groups
    native.place(("groups",), (ORIGINAL_KEY,))
    return YamlDocument(document.path, native.data, native.lines)


def template_slug(text: str) -> str:
    """A free-text name in the native pattern: `Django to FastAPI Migration` → `django_to_fastapi_migration`."""
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not slug:
        return "template"
    return (slug if slug[0].isalpha() else f"t_{slug}")[:64].rstrip("_")


def engine_name(text: str) -> str:
    """`claude_code` → `claude-code`: the registered name the original form's spelling means.

    Only the name is changed, never a model after `:`; a name no engine has is kept, so the run's
    check names it with its closest match.
    """
    name, colon, model = text.strip().partition(":")
    return f"{default_registry().resolve(name) or name}{colon}{model}"


def converted_template(path: Path, native: YamlDocument, original: bool) -> str:
    """An original-format template (`native`: as the loader converted it from `path`) as a native
    template file, with a header saying where it came from."""
    if not original:
        raise InputError(f"{path} is in the native format already: there is nothing to convert")
    header = (
        f"# Converted by `parallelai templates convert` from {path},\n"
        "# which is written in parallelai's original template format (`parallel_tasks:`).\n"
        "# This is the native format: docs/templates.md.\n"
    )
    body = yaml.dump(
        native.data,
        Dumper=_NativeDumper,
        sort_keys=False,
        default_flow_style=None,  # short lists inline, as people write `files: [...]`
        allow_unicode=True,
        width=100,
    )
    return header + body


def _step(document: YamlDocument, index: int, entry: Any) -> tuple[str, _OriginalStep]:
    where: Location = (ORIGINAL_KEY, index)
    if not isinstance(entry, dict) or len(entry) != 1:
        keys = f" (this one has {len(entry)} keys: {', '.join(entry)})" if isinstance(entry, dict) else ""
        raise _error(
            document,
            where,
            f"{_field(where)}: each entry is a one-key mapping `- step_name: {{prompt: ..., ...}}`"
            f"{keys}; the native form is `groups: {{step_name: {{prompt: ...}}}}`",
        )
    ((name, body),) = entry.items()
    if not re.fullmatch(GROUP_NAME, name):
        raise _error(
            document,
            where,
            f"{_field(where)}: step name {name!r} must be letters, digits and `_`, starting with a "
            "letter (it becomes a group name, and task ids such as `{name}-0001`)",
        )
    if not isinstance(body, dict):
        raise _error(
            document,
            (*where, name),
            f"{_field((*where, name))}: a step is a mapping with at least `prompt:`",
        )
    try:
        return name, _OriginalStep.model_validate(body)
    except ValidationError as error:
        problem = error.errors()[0]
        field_path = tuple(problem["loc"])
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = (
                "not a field of the original form, whose steps take `prompt`, `engine`, `files` and "
                "`depends_on`; the native form's groups have more (exclude, input, output_schema, "
                "timeout…): convert with `parallelai templates convert FILE`"
            )
        where_field = (*where, name, *field_path)
        raise _error(document, where_field, f"{_field(where_field)}: {message}") from None


def _group(
    native: _Native,
    index: int,
    name: str,
    step: _OriginalStep,
    names: list[str],
    shared_engine: str | None,
    parameters: dict[str, Any],
) -> dict[str, Any]:
    document = native.document
    origin: Location = (ORIGINAL_KEY, index, name)
    target: Location = ("groups", name)
    native.place(target, (ORIGINAL_KEY, index))
    group: dict[str, Any] = {}
    if step.description:
        group["description"] = step.description
    if step.engine and shared_engine is None:
        group["engine"] = engine_name(step.engine)
        native.place((*target, "engine"), (*origin, "engine"))
    depends = _as_list(step.depends_on)
    for position, dependency in enumerate(depends):
        where = (
            (*origin, "depends_on") if isinstance(step.depends_on, str) else (*origin, "depends_on", position)
        )
        if dependency not in names or dependency == name:
            others = [other for other in names if other != name]
            close = get_close_matches(dependency, others, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            what = (
                "a step cannot depend on itself"
                if dependency == name
                else f"unknown step {dependency!r}{hint}"
            )
            raise _error(
                document,
                where,
                f"{_field(where)}: {what}; steps: {', '.join(others) or 'none'}. "
                f"The native form: `groups: {{{name}: {{depends_on: [STEP]}}}}`",
            )
        native.place((*target, "depends_on", position), where)
    if depends:
        group["depends_on"] = depends
    globs = _as_list(step.files)
    for position, glob in enumerate(globs):
        where = (*origin, "files") if isinstance(step.files, str) else (*origin, "files", position)
        if not glob.strip():
            raise _error(document, where, f"{_field(where)}: an empty glob selects nothing")
        globs[position] = _placeholders(document, where, glob, set(), parameters, native)
        native.place((*target, "files", position), where)
    if globs:
        group["files"] = globs
    available = {"template", "group"}
    if globs:
        available |= set(ITEM_NAMES["files"])
    if depends:
        available |= {"output", *(f"outputs.{dependency}" for dependency in depends)}
    prompt = _placeholders(document, (*origin, "prompt"), step.prompt, available, parameters, native)
    group["prompt"] = _with_context(prompt, globs, depends)
    native.place((*target, "prompt"), (*origin, "prompt"))
    return group


def _placeholders(
    document: YamlDocument,
    where: Location,
    text: str,
    available: set[str],
    parameters: dict[str, Any],
    native: _Native,
) -> str:
    """`{name}` → `{{ name }}`; a name the group has no value for becomes a required parameter."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        head = name.partition(".")[0]
        if name in available:
            return "{{ " + name + " }}"
        if head in _CONTEXT_ONLY or "." in name:
            raise _error(document, where, f"{_field(where)}: {{{name}}} {_unavailable(name)}")
        if name not in parameters:
            parameters[name] = {
                "type": "string",
                "required": True,
                "description": f"`{{{name}}}` in the original template",
            }
            native.place(("parameters", name), where)
        return "{{ " + name + " }}"

    return _PLACEHOLDER.sub(replace, text)


def _unavailable(name: str) -> str:
    head, _, step = name.partition(".")
    if head in ("file", "content", "item", "index"):
        return "needs `files:` on this step: it is the file each task works on"
    if head == "outputs" and step:
        return f"names a step this one does not depend on; add `depends_on: {step}`"
    if head in ("output", "outputs"):
        return "needs `depends_on:` on this step: it is the answers of the steps it waits for"
    return "is not available in the original form; use the native form (`parallelai templates convert FILE`)"


def _with_context(prompt: str, globs: list[str], depends: list[str]) -> str:
    """What the original form left implicit, written out: each task sees its file and its
    dependencies' answers, whatever engine runs it — unless the prompt already places them."""
    text = prompt.rstrip("\n")
    if globs and "{{ content }}" not in text:
        text += "\n\n`{{ file }}`:\n```\n{{ content }}\n```"
    if depends and "{{ output" not in text:
        for dependency in depends:
            text += f"\n\nThe answers of `{dependency}`:\n\n{{{{ outputs.{dependency} }}}}"
    return text + "\n"


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _field(where: Location) -> str:
    """`parallel_tasks[1].generate_schemas.depends_on`: a location as the user reads their file."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where).lstrip(".")


def _error(document: YamlDocument, where: Location, message: str) -> TemplateError:
    return TemplateError(document.path, f"{message} ({_DOCS})", document.line_of(where))


class _NativeDumper(yaml.SafeDumper):
    """Multi-line prompts as `|` blocks, the way people write them."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_NativeDumper.add_representer(str, _string)

"""Rendering template prompts: Jinja2 at plan time, with runtime slots for dependency outputs.

Two renderers meet here, and each does what only it can:

- **Jinja2** (a sandboxed environment with StrictUndefined) runs once, when the run is planned.
  It sees the parameters, `file`, `content`, `row`, `items`… and can loop and branch over them.
  It cannot see what other groups answered: those answers do not exist yet.
- **The core** (parallelai.orchestration.prompting) fills `{{ output }}` and `{{ outputs.ID }}`
  just before a task starts, in a single pass over the prompt.

So a prompt is rendered in three steps:

1. In the Jinja context, `output` and `outputs.GROUP` are *markers*: strings carrying a nonce
   that is fresh for every render, so no file content or matrix cell can forge one.
2. Anything in the rendered text that the core would take for a placeholder — `{{ user.name }}`
   in a Vue file under review, say — is moved into the task's inputs as `literal.N` and replaced
   by `{{ literal.N }}`. The core puts it back verbatim in its one pass and never expands it.
3. Each marker becomes the core placeholders for the dependency tasks it stands for (planned by
   parallelai.templates.plan: item X's own dependency, or every task of a group, labelled).

Markers are opaque: inserting `{{ outputs.analyse }}` works; filtering it (`| upper`) cannot, and
a marker that did not survive rendering intact is reported as an error rather than lost.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import StrictUndefined, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from parallelai.errors import TemplateError
from parallelai.orchestration.prompting import PLACEHOLDER

LITERALS = "literal"  # the task input holding text that only looks like a placeholder


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a prompt lives, for error messages: the template file and the line of the prompt."""

    path: Path
    line: int | None = None
    field: str = "prompt"

    def error(self, message: str, offset: int | None = None) -> TemplateError:
        line = self.line + offset if self.line is not None and offset is not None else self.line
        return TemplateError(self.path, f"{self.field}: {message}", line)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A prompt ready for the core: text with core placeholders, plus the literals they refer to."""

    text: str
    literals: dict[str, str] = field(default_factory=dict)


class PromptRenderer:
    def __init__(self) -> None:
        self._env = SandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
        self._compiled: dict[str, jinja2.Template] = {}

    def check(self, source: str, known: Iterable[str], outputs: Iterable[str], where: SourceRef) -> None:
        """Refuse, before anything runs, a prompt naming a variable or a dependency that does not exist."""
        tree = self._parse(source, where)
        known_names = {*known, "output", "outputs"} if outputs else set(known)
        for name in sorted(meta.find_undeclared_variables(tree)):
            if name not in known_names:
                raise where.error(
                    f"unknown variable {{{{ {name} }}}}{_suggest(name, known_names)}; "
                    f"available here: {', '.join(sorted(known_names))}",
                )
        groups = set(outputs)
        for node in tree.find_all(nodes.Getattr):
            if isinstance(node.node, nodes.Name) and node.node.name == "outputs" and node.attr not in groups:
                raise where.error(
                    f"{{{{ outputs.{node.attr} }}}} is not a group this one depends on"
                    f"{_suggest(node.attr, groups)}; depends_on: {', '.join(sorted(groups)) or 'none'}",
                    node.lineno,
                )

    def render_text(self, source: str, context: Mapping[str, Any], where: SourceRef) -> str:
        """Plain Jinja rendering, for strings that never reach an agent (globs, input paths)."""
        template = self._compile(source, where)
        try:
            return template.render(context)
        except jinja2.TemplateError as error:
            raise where.error(_describe(error)) from None

    def render(
        self,
        source: str,
        context: Mapping[str, Any],
        where: SourceRef,
        dependency_text: Mapping[str, str] | None = None,
    ) -> Rendered:
        """Render a prompt; `dependency_text` maps `output` and `outputs.GROUP` to core placeholders."""
        # Digits only: case filters leave it intact, so a mangled marker is still detected below.
        nonce = f"{secrets.randbelow(10**16):016d}"
        slots = dependency_text or {}
        markers = {name: f"\u27e6{nonce}:{name}\u27e7" for name in slots}
        outputs = {name.removeprefix("outputs."): marker for name, marker in markers.items() if "." in name}
        full = dict(context)
        if slots:
            full["outputs"] = outputs
            full["output"] = markers.get("output", "")
        text = self.render_text(source, full, where)
        literals: dict[str, str] = {}

        def protect(match: re.Match[str]) -> str:
            key = str(len(literals))
            literals[key] = match.group(0)
            return "{{ " + f"{LITERALS}.{key}" + " }}"

        text = PLACEHOLDER.sub(protect, text)
        for name, marker in markers.items():
            text = text.replace(marker, slots[name])
        if nonce in text:
            raise where.error(
                "the outputs of dependencies can only be inserted as they are ({{ outputs.GROUP }}), "
                "not filtered or sliced: they are filled in when the task starts"
            )
        return Rendered(text, literals)

    def _parse(self, source: str, where: SourceRef) -> nodes.Template:
        try:
            return self._env.parse(source)
        except jinja2.TemplateSyntaxError as error:
            raise where.error(f"template syntax: {error.message}", error.lineno) from None

    def _compile(self, source: str, where: SourceRef) -> jinja2.Template:
        compiled = self._compiled.get(source)
        if compiled is None:
            try:
                compiled = self._env.from_string(source)
            except jinja2.TemplateSyntaxError as error:
                raise where.error(f"template syntax: {error.message}", error.lineno) from None
            self._compiled[source] = compiled
        return compiled


def _describe(error: jinja2.TemplateError) -> str:
    if isinstance(error, jinja2.UndefinedError):
        return f"undefined value: {error.message}"
    if isinstance(error, jinja2.exceptions.SecurityError):
        return f"not allowed in a template: {error.message}"
    return f"{type(error).__name__}: {error.message}"


def _suggest(name: str, known: Iterable[str]) -> str:
    close = get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""

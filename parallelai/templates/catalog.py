"""The template catalog: list, describe and plan templates — the seam every surface uses.

A surface (HTTP API, MCP, language server) needs only to list templates, describe one, and turn
one plus its params into a planned run (`TemplatePlan`, whose `spec` is the run). `LibraryCatalog` implements it over the template library
(built-ins plus the project's `.parallelai/templates/`); tests and embedders can pass any other,
e.g. `EmptyCatalog`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from parallelai.errors import InputError, did_you_mean
from parallelai.models import StrategyName
from parallelai.run_request import RunSettings
from parallelai.templates.loader import LoadedTemplate, list_templates, load_template, resolve_alias
from parallelai.templates.plan import TemplatePlan, plan_template
from parallelai.templates.schema import Template


class TemplateParam(BaseModel):
    name: str
    type: str = "string"
    description: str = ""
    required: bool = False
    default: Any = None


class TemplateSummary(BaseModel):
    name: str
    description: str = ""


class TemplateDetail(TemplateSummary):
    params: list[TemplateParam] = Field(default_factory=list)
    strategy: StrategyName | None = None
    example: dict[str, Any] | None = Field(default=None, description="Example `params` for start_run.")


class UnknownTemplateError(InputError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = tuple(known)
        choices = ", ".join(known) if known else "none are installed"
        super().__init__(
            f"unknown template {name!r}{did_you_mean(name, known)}; available templates: {choices}"
        )


class TemplateCatalog(Protocol):
    def templates(self) -> list[TemplateSummary]: ...

    def describe(self, name: str) -> TemplateDetail:
        """Raises UnknownTemplateError."""
        ...

    def describe_all(self) -> list[TemplateDetail]: ...

    def plan(self, name: str, params: dict[str, Any], settings: RunSettings) -> TemplatePlan:
        """Render the template into a run. Raises UnknownTemplateError or InputError (bad params)."""
        ...


class EmptyCatalog:
    """No templates at all."""

    def templates(self) -> list[TemplateSummary]:
        return []

    def describe(self, name: str) -> TemplateDetail:
        raise UnknownTemplateError(name, [])

    def describe_all(self) -> list[TemplateDetail]:
        return []

    def plan(self, name: str, params: dict[str, Any], settings: RunSettings) -> TemplatePlan:
        raise UnknownTemplateError(name, [])


class LibraryCatalog:
    """Built-in templates plus the project's `.parallelai/templates/`, found from `workdir`.

    With `paths`, a template may also be named by its file's path: for the user's own command
    line and Python code, never for a server, where it would let a caller read any YAML file.
    """

    def __init__(self, workdir: Path | None = None, *, paths: bool = False) -> None:
        self._workdir = (workdir or Path.cwd()).resolve()
        self._paths = paths

    def templates(self) -> list[TemplateSummary]:
        return [
            TemplateSummary(name=info.name, description=info.description)
            for info in list_templates(self._workdir)
        ]

    def describe(self, name: str) -> TemplateDetail:
        return _detail(self._load(name).template)

    def describe_all(self) -> list[TemplateDetail]:
        """Every template in full: the library listed once, then each template read once."""
        return [
            _detail(load_template(info.name, self._workdir).template)
            for info in list_templates(self._workdir)
        ]

    def plan(self, name: str, params: dict[str, Any], settings: RunSettings) -> TemplatePlan:
        root = Path(settings.workdir).resolve() if settings.workdir else self._workdir
        return plan_template(
            self._load(name, root), params, settings.model_copy(update={"workdir": str(root)})
        )

    def _load(self, name: str, root: Path | None = None) -> LoadedTemplate:
        root = root or self._workdir
        if self._paths:
            return load_template(name, root)
        known = [info.name for info in list_templates(root)]
        name = resolve_alias(name, known)
        # Only names reach the library: a path would let a caller load any YAML file on the machine.
        if name not in known:
            raise UnknownTemplateError(name, known)
        return load_template(name, root)


def _detail(template: Template) -> TemplateDetail:
    return TemplateDetail(
        name=template.name,
        description=template.description,
        params=[
            TemplateParam(
                name=param_name,
                type=param.type,
                description=param.description
                + (f" (one of: {', '.join(map(str, param.choices))})" if param.choices else ""),
                required=param.required,
                default=param.default,
            )
            for param_name, param in template.parameters.items()
        ],
    )

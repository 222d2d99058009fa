"""The template catalog: list, describe and plan templates — the seam every surface uses.

A surface (HTTP API, MCP, language server) needs only to list templates, describe one, and turn
one plus its params into a RunSpec. `LibraryCatalog` implements it over the template library
(built-ins plus the project's `.parallelai/templates/`); tests and embedders can pass any other,
e.g. `EmptyCatalog`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from parallelai.errors import InputError
from parallelai.models import RunSpec, StrategyName
from parallelai.run_request import RunSettings
from parallelai.templates.loader import LoadedTemplate, list_templates, load_template
from parallelai.templates.plan import PlanOptions, plan_template
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
        super().__init__(f"unknown template {name!r}; available templates: {choices}")


class TemplateCatalog(Protocol):
    def templates(self) -> list[TemplateSummary]: ...

    def describe(self, name: str) -> TemplateDetail:
        """Raises UnknownTemplateError."""
        ...

    def describe_all(self) -> list[TemplateDetail]: ...

    def plan(self, name: str, params: dict[str, Any], options: RunSettings) -> RunSpec:
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

    def plan(self, name: str, params: dict[str, Any], options: RunSettings) -> RunSpec:
        raise UnknownTemplateError(name, [])


class LibraryCatalog:
    """Built-in templates plus the project's `.parallelai/templates/`, found from `workdir`."""

    def __init__(self, workdir: Path | None = None) -> None:
        self._workdir = (workdir or Path.cwd()).resolve()

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

    def plan(self, name: str, params: dict[str, Any], options: RunSettings) -> RunSpec:
        engine = options.engine or "echo"
        settings = {name: dict(value) for name, value in options.engines.items()}
        if options.engine_options:
            name = engine.partition(":")[0]
            settings[name] = {**settings.get(name, {}), **options.engine_options}
        plan = plan_template(
            self._load(name, options.workdir),
            params,
            PlanOptions(
                workdir=Path(options.workdir) if options.workdir else self._workdir,
                engine=engine,
                parallel=options.parallel,
                timeout=options.timeout,
                retries=options.retries,
                name=options.name,
                use_cache=options.use_cache,
                engine_settings=settings,
                max_cost_usd=options.max_cost_usd,
                fail_fast=bool(options.fail_fast),
            ),
        )
        if options.max_tokens is None and not options.per_engine:
            return plan.spec
        limits = plan.spec.limits.model_copy(
            update={"max_tokens": options.max_tokens, "per_engine": dict(options.per_engine)}
        )
        return plan.spec.model_copy(update={"limits": limits})

    def _load(self, name: str, workdir: str | None = None) -> LoadedTemplate:
        root = Path(workdir).resolve() if workdir else self._workdir
        known = [info.name for info in list_templates(root)]
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

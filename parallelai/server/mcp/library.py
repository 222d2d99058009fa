"""`LibraryCatalog`: the MCP template tools over the template library (`parallelai.templates`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from parallelai.models import RunSpec
from parallelai.server.mcp.schemas import TemplateDetail, TemplateInfo, TemplateParam
from parallelai.server.mcp.templates import UnknownTemplateError
from parallelai.tasksfile import RunOptions
from parallelai.templates.loader import LoadedTemplate, list_templates, load_template
from parallelai.templates.plan import PlanOptions, plan_template


class LibraryCatalog:
    """Built-in templates plus the project's `.parallelai/templates/`, found from `workdir`."""

    def __init__(self, workdir: Path | None = None) -> None:
        self._workdir = (workdir or Path.cwd()).resolve()

    def templates(self) -> list[TemplateInfo]:
        return [
            TemplateInfo(name=info.name, description=info.description)
            for info in list_templates(self._workdir)
        ]

    def describe(self, name: str) -> TemplateDetail:
        template = self._load(name).template
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

    def plan(self, name: str, params: dict[str, Any], options: RunOptions) -> RunSpec:
        engine = options.engine or "echo"
        settings = {engine.partition(":")[0]: options.engine_options} if options.engine_options else {}
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
        return plan.spec

    def _load(self, name: str, workdir: str | None = None) -> LoadedTemplate:
        root = Path(workdir).resolve() if workdir else self._workdir
        known = [info.name for info in list_templates(root)]
        # Only names reach the library: a path would let a caller load any YAML file on the machine.
        if name not in known:
            raise UnknownTemplateError(name, known)
        return load_template(name, root)

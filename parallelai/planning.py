"""Planning a `RunRequest` into a `RunSpec`, exactly once, and starting it: the one way into a run.

Every surface builds a `RunRequest` and calls `start_run(service, request)` (or `plan_request`,
when it must see the plan before it is started; `plan_template_request` for a template run whose
report needs to know what each task was about). The service then only checks the planned spec
and runs it; output schemas are enforced by the service's engines (orchestration/output_schemas.py).

This is a function beside the service rather than a method of it: planning reads tasks files and
templates, which sit above the orchestration core, and the core must not import upwards.
"""

from __future__ import annotations

from pathlib import Path

from parallelai.config import load_defaults
from parallelai.errors import InputError
from parallelai.models import RunSpec
from parallelai.orchestration.service import OrchestrationService
from parallelai.run_request import RunRequest, RunSettings
from parallelai.tasksfile import spec_from_file, spec_from_mapping, spec_from_prompts, spec_from_tasks
from parallelai.templates.catalog import LibraryCatalog, TemplateCatalog
from parallelai.templates.plan import TemplatePlan


def plan_request(
    request: RunRequest, templates: TemplateCatalog | None = None, defaults: RunSettings | None = None
) -> RunSpec:
    """The run `request` describes. Raises InputError (or a subclass) saying what is wrong, and where.

    `templates` defaults to the template library seen from the request's workdir; `defaults` to
    what the environment and config files of that workdir say (config.py). A tasks file's own
    settings sit between the two: over the defaults, under the request.
    """
    if request.planned is not None:
        return request.planned
    if request.template is not None:
        return plan_template_request(request, templates, defaults).spec
    settings = request.settings
    fallback = defaults if defaults is not None else _defaults_for(settings)
    if request.tasks_file is not None:
        # Relative to the workspace, else the current directory; absolute, so errors say where.
        path = (Path(settings.workdir or ".") / request.tasks_file).absolute()
        return spec_from_file(path, settings, fallback)
    if request.work is not None:
        return spec_from_mapping(request.work, settings, fallback)
    if request.prompts is not None:
        return spec_from_prompts(request.prompts, settings.over(fallback))
    return spec_from_tasks(request.tasks or [], settings.over(fallback), templates)


def plan_template_request(
    request: RunRequest, templates: TemplateCatalog | None = None, defaults: RunSettings | None = None
) -> TemplatePlan:
    """A template request planned, with what each task is about (for its report)."""
    if request.template is None:
        raise InputError("this request names no template")
    given = request.settings
    settings = given.over(defaults if defaults is not None else _defaults_for(given))
    # The engine is left unresolved here: plan_template chooses it once, with the template's own
    # `engine:` between the run's and the machine's default.
    catalog = templates or LibraryCatalog(Path(settings.workdir) if settings.workdir else None)
    return catalog.plan(request.template, dict(request.params), settings)


def _defaults_for(settings: RunSettings) -> RunSettings:
    return load_defaults(Path(settings.workdir) if settings.workdir else None).run


async def start_run(
    service: OrchestrationService, request: RunRequest, templates: TemplateCatalog | None = None
) -> str:
    """Plan `request` and start it on `service`; the new run's id."""
    return await service.submit(plan_request(request, templates))

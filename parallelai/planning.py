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

from parallelai.errors import InputError
from parallelai.models import RunSpec
from parallelai.orchestration.service import OrchestrationService
from parallelai.run_request import RunRequest
from parallelai.tasksfile import spec_from_file, spec_from_mapping, spec_from_prompts, spec_from_tasks
from parallelai.templates.catalog import LibraryCatalog, TemplateCatalog
from parallelai.templates.plan import TemplatePlan


def plan_request(request: RunRequest, templates: TemplateCatalog | None = None) -> RunSpec:
    """The run `request` describes. Raises InputError (or a subclass) saying what is wrong, and where.

    `templates` defaults to the template library seen from the request's workdir.
    """
    settings = request.settings
    if request.planned is not None:
        return request.planned
    if request.template is not None:
        return plan_template_request(request, templates).spec
    if request.tasks_file is not None:
        # Relative to the workspace, else the current directory; absolute, so errors say where.
        return spec_from_file((Path(settings.workdir or ".") / request.tasks_file).absolute(), settings)
    if request.work is not None:
        return spec_from_mapping(request.work, settings)
    if request.prompts is not None:
        return spec_from_prompts(request.prompts, settings)
    return spec_from_tasks(request.tasks or [], settings)


def plan_template_request(request: RunRequest, templates: TemplateCatalog | None = None) -> TemplatePlan:
    """A template request planned, with what each task is about (for its report)."""
    if request.template is None:
        raise InputError("this request names no template")
    settings = request.settings
    catalog = templates or LibraryCatalog(Path(settings.workdir) if settings.workdir else None)
    return catalog.plan(request.template, dict(request.params), settings)


async def start_run(
    service: OrchestrationService, request: RunRequest, templates: TemplateCatalog | None = None
) -> str:
    """Plan `request` and start it on `service`; the new run's id."""
    return await service.submit(plan_request(request, templates))

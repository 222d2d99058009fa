"""Running a planned template: through the orchestration service, with output schemas enforced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from parallelai.engines.registry import EngineRegistry, default_registry
from parallelai.orchestration.lease import Role
from parallelai.orchestration.service import OrchestrationService
from parallelai.reports.results import TemplateResults
from parallelai.templates.plan import TemplatePlan
from parallelai.templates.validating import validating_registry


@asynccontextmanager
async def open_service(
    store_path: Path | None = None, registry: EngineRegistry | None = None, *, role: Role = "local"
) -> AsyncIterator[OrchestrationService]:
    """A service whose engines validate answers against their task's output schema (re-asking once)."""
    async with OrchestrationService.open(
        store_path, validating_registry(registry or default_registry()), role=role
    ) as service:
        yield service


async def submit_plan(service: OrchestrationService, plan: TemplatePlan) -> str:
    return await service.submit(plan.spec)


async def collect(service: OrchestrationService, plan: TemplatePlan, run_id: str) -> TemplateResults:
    summary = await service.wait(run_id)
    return TemplateResults(plan, summary, await service.tasks(run_id))


async def run_plan(service: OrchestrationService, plan: TemplatePlan) -> TemplateResults:
    return await collect(service, plan, await submit_plan(service, plan))

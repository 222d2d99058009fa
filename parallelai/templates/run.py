"""Deprecated: `open_service` is `OrchestrationService.open`, which now enforces output schemas
itself; `collect` and `run_plan` live in `parallelai.reports.results`. Kept for one release."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from parallelai.engines.registry import EngineRegistry
from parallelai.orchestration.lease import Role
from parallelai.orchestration.service import OrchestrationService


@asynccontextmanager
async def open_service(
    store_path: Path | None = None, registry: EngineRegistry | None = None, *, role: Role = "local"
) -> AsyncIterator[OrchestrationService]:
    async with OrchestrationService.open(store_path, registry, role=role) as service:
        yield service

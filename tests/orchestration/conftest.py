"""Every orchestration test gets a real service on a fresh SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parallelai.orchestration.service import OrchestrationService
from tests.support.fixtures import model_server  # noqa: F401  (cache keys against a scripted endpoint)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "db.sqlite"


@pytest.fixture
async def service(store_path: Path) -> AsyncIterator[OrchestrationService]:
    async with OrchestrationService.open(store_path) as opened:
        yield opened

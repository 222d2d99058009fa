"""Every server test gets a real daemon app on a loopback socket, over a fresh store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.server._support import Harness, running_app


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_app(tmp_path / "db.sqlite") as harness:
        yield harness

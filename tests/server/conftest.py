"""Every server test gets a real daemon app on a loopback socket, over a fresh store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.server._support import Harness, running_app

if TYPE_CHECKING:
    from playwright.async_api import Page


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A Chromium tab that fails the test on any Content Security Policy violation of the page
    (the dashboard's browser tests; Playwright is imported only when one asks for it)."""
    from tests.server._browser import csp_checked_tab

    async with csp_checked_tab() as tab:
        yield tab


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_app(tmp_path / "db.sqlite") as harness:
        yield harness

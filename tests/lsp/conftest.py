"""Every LSP session test gets a copy of the template tests' sample repository as its workspace."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.lsp._session import Session, lsp_session

SAMPLE_REPO = Path(__file__).resolve().parents[1] / "templates" / "sample_repo"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(SAMPLE_REPO, root)
    return root


@pytest.fixture
async def session(workspace: Path) -> AsyncIterator[Session]:
    async with lsp_session(workspace) as started:
        yield started

"""The security tests run against a real daemon app on a loopback socket, as the server tests do."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.security._user import NOBODY, ROOT, User
from tests.server._support import Harness, running_app


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_app(tmp_path / "db.sqlite") as harness:
        yield harness


@pytest.fixture
def user(tmp_path: Path) -> User:
    home = tmp_path / "user"
    home.mkdir()
    if ROOT:
        os.chown(home, NOBODY, NOBODY)
    return User(home)

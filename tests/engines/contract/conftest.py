"""Fixtures of the engine contract: the adapter a test is parametrized with, and its engine under test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.engines.contract.adapters import Adapter
from tests.engines.contract.harness import EngineUnderTest
from tests.support.model_server import ScriptedModelServer


@pytest.fixture
def adapter(request: pytest.FixtureRequest) -> Adapter:
    param: Adapter = request.param
    return param


@pytest.fixture
async def engine_under_test(
    adapter: Adapter, model_server: ScriptedModelServer, cli_bin: Callable[[str], Path], tmp_path: Path
) -> AsyncIterator[EngineUnderTest]:
    under_test = EngineUnderTest(
        adapter, model_server, cli_bin(adapter.cli) if adapter.cli else None, tmp_path
    )
    try:
        yield under_test
    finally:
        await under_test.aclose()

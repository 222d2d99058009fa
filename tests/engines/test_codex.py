"""What only the codex engine does (the real CLI, scripted server); tests/engines/contract covers the rest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from parallelai.engines.base import (
    Activity,
    EngineEvent,
    EngineRequest,
)
from parallelai.engines.codex import CodexEngine
from parallelai.models import TaskOptions
from tests.support.model_server import Reply, ScriptedModelServer

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

API_KEY = "sk-codex-test-0123456789abcdef"


class Harness:
    """One codex engine wired to the scripted server, with a private workdir and home root."""

    def __init__(self, server: ScriptedModelServer, codex: Path, tmp_path: Path) -> None:
        self.server = server
        self.tmp_path = tmp_path
        self.workdir = tmp_path / "work"
        self.workdir.mkdir()
        self.home_root = tmp_path / "codex-homes"
        self.settings: dict[str, Any] = {
            "binary": str(codex),
            "base_url": f"{server.url}/v1",
            "api_key": API_KEY,
            "home_root": str(self.home_root),
            "inherit_home_from": "",  # never the developer's own ~/.codex
            "cli_max_retries": 0,  # codex would otherwise retry a 429 itself, several times
        }
        self.events: list[EngineEvent] = []

    def engine(self, **settings: Any) -> CodexEngine:
        return CodexEngine({**self.settings, **settings})

    def request(
        self, prompt: str = "say hello", *, model: str | None = "gpt-4.1", **options: Any
    ) -> EngineRequest:
        return EngineRequest(
            task_id="t1", prompt=prompt, model=model, options=TaskOptions(**options), workdir=self.workdir
        )

    def emit(self, event: EngineEvent) -> None:
        self.events.append(event)


@pytest.fixture
def harness(model_server: ScriptedModelServer, cli_bin: Callable[[str], Path], tmp_path: Path) -> Harness:
    return Harness(model_server, cli_bin("codex"), tmp_path)


async def test_a_model_codex_has_no_metadata_for_is_a_warning_not_a_failure(harness: Harness) -> None:
    harness.server.script(Reply("fine all the same"))

    # Codex sends an "error" item for a model it knows nothing about; the run still answers.
    result = await harness.engine().run(harness.request(model="gpt-scripted"), harness.emit)

    assert result.ok, result.error
    assert result.text == "fine all the same"
    assert any(isinstance(e, Activity) and e.kind == "warning" for e in harness.events)

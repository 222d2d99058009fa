"""The engine under test: one adapter's engine wired to the scripted server, with a private workdir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from parallelai.engines.base import Engine, EngineEvent, EngineRequest
from parallelai.engines.registry import EngineRegistry
from parallelai.models import TaskOptions, TaskResult
from tests.engines.contract.adapters import ADAPTERS, Adapter, Sentence, Setup
from tests.support.model_server import ScriptedModelServer

REGISTRY = EngineRegistry.from_entry_points()  # engines are built as the service builds them


def over_engines(sentence: Sentence | None = None) -> pytest.MarkDecorator:
    """Run the test once per adapter; skipped where `sentence` does not apply, xfail where it is a known gap."""
    params = []
    for adapter in ADAPTERS:
        marks: list[pytest.MarkDecorator] = [pytest.mark.e2e] if adapter.cli else []
        if sentence is not None and sentence in adapter.skips:
            marks.append(pytest.mark.skip(reason=f"{adapter.id}: {adapter.skips[sentence]}"))
        if sentence is not None and sentence in adapter.known_gaps:
            marks.append(
                pytest.mark.xfail(strict=True, reason=f"{adapter.id}: {adapter.known_gaps[sentence]}")
            )
        params.append(pytest.param(adapter, id=adapter.id, marks=marks))
    return pytest.mark.parametrize("adapter", params, indirect=True)


class EngineUnderTest:
    """Builds the adapter's engines, records what they emit, and closes them afterwards."""

    def __init__(
        self, adapter: Adapter, server: ScriptedModelServer, binary: Path | None, tmp_path: Path
    ) -> None:
        self.adapter = adapter
        self.server = server
        self.tmp_path = tmp_path
        self.workdir = tmp_path / "work"
        self.workdir.mkdir()
        self.setup = Setup(server_url=server.url, binary=binary, root=tmp_path / f"{adapter.id}-root")
        adapter.prepare(self.setup)
        self.events: list[EngineEvent] = []
        self._engines: list[Engine] = []

    @property
    def marker(self) -> str | None:
        """What every process of the engine carries in its environment (its home's path); None: no process."""
        return str(self.setup.root) if self.adapter.cli else None

    def applies(self, sentence: Sentence) -> bool:
        return sentence not in self.adapter.skips

    def engine(self, **settings: Any) -> Engine:
        return self.build({**self.adapter.settings(self.setup), **settings})

    def build(self, settings: dict[str, Any]) -> Engine:
        engine = REGISTRY.create(self.adapter.name, settings)
        self._engines.append(engine)
        return engine

    def request(self, prompt: str = "say hello", **options: Any) -> EngineRequest:
        return EngineRequest(
            task_id="t1", prompt=prompt, model=self.adapter.model, options=TaskOptions(**options),
            workdir=self.workdir,
        )  # fmt: skip

    async def run(
        self, prompt: str = "say hello", *, engine: Engine | None = None, **options: Any
    ) -> TaskResult:
        return await (engine or self.engine()).run(self.request(prompt, **options), self.emit)

    def emit(self, event: EngineEvent) -> None:
        self.events.append(event)

    def homes_left(self) -> list[Path]:
        return list(self.setup.root.iterdir()) if self.setup.root.exists() else []

    async def aclose(self) -> None:
        for engine in self._engines:
            await engine.aclose()

"""What only the ollama engine does (NDJSON /api/chat, scripted server); tests/engines/contract covers the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from parallelai.engines.base import EngineEvent, EngineRequest, TextDelta, UsageReport
from parallelai.engines.ollama import OllamaEngine
from parallelai.models import ErrorKind, TaskOptions
from tests.support.model_server import Failure, Reply, ScriptedModelServer

pytestmark = pytest.mark.anyio


def make_engine(server: ScriptedModelServer, **settings: Any) -> OllamaEngine:
    return OllamaEngine({"base_url": server.url, **settings})


def make_request(tmp_path: Path, *, model: str = "llama3.2", **options: Any) -> EngineRequest:
    return EngineRequest(
        task_id="t1", prompt="say hello", model=model, options=TaskOptions(**options), workdir=tmp_path
    )


async def test_an_answer_streams_in_deltas_and_records_usage(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script(Reply("hello from llama", input_tokens=40, output_tokens=9))
    events: list[EngineEvent] = []
    engine = make_engine(model_server, options={"temperature": 0}, keep_alive="5m")
    try:
        result = await engine.run(make_request(tmp_path), events.append)
    finally:
        await engine.aclose()

    assert result.ok, result.error
    assert result.text == "hello from llama"
    assert len([e for e in events if isinstance(e, TextDelta)]) > 1
    assert (result.usage.input_tokens, result.usage.output_tokens) == (40, 9)
    assert result.usage.cost_usd == 0  # a local model is free unless `prices` says otherwise
    assert events[-1] == UsageReport(result.usage)
    (sent,) = model_server.requests
    assert sent.path == "/api/chat"
    assert sent.json["model"] == "llama3.2"
    assert sent.json["options"] == {"temperature": 0}
    assert sent.json["keep_alive"] == "5m"


async def test_a_missing_model_is_fatal_and_says_how_to_pull_it(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script(Failure(404, "model 'llama9' not found"))
    engine = make_engine(model_server)
    try:
        result = await engine.run(make_request(tmp_path, model="llama9"), lambda _: None)
    finally:
        await engine.aclose()
    assert result.error is not None
    assert result.error.kind is ErrorKind.BAD_REQUEST
    assert not result.error.kind.retryable
    assert "model 'llama9' not found" in result.error.message
    assert "ollama pull llama9" in result.error.message


async def test_status_lists_models_and_says_what_to_pull(model_server: ScriptedModelServer) -> None:
    present, absent = make_engine(model_server, model="llama3.2"), make_engine(model_server, model="llama9")
    try:
        up, missing = await present.status(), await absent.status()
    finally:
        await present.aclose()
        await absent.aclose()
    assert up.available, up.detail
    assert up.version == "0.12.6"
    assert "llama3.2:latest" in up.detail
    assert not missing.available
    assert "ollama pull llama9" in missing.detail

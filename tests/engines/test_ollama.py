"""The ollama engine against a real HTTP server speaking Ollama's NDJSON /api/chat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.engines.base import EngineEvent, EngineRequest, RateLimitSignal, TextDelta, UsageReport
from parallelai.engines.ollama import OllamaEngine
from parallelai.models import ErrorKind, TaskOptions
from tests.support.model_server import Failure, Hang, Reply, ScriptedModelServer

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


async def test_prices_from_settings_give_a_cost(model_server: ScriptedModelServer, tmp_path: Path) -> None:
    model_server.script(Reply("ok", input_tokens=1_000_000, output_tokens=1_000_000))
    engine = make_engine(model_server, prices={"llama3.2": {"input": 0.1, "output": 0.2}})
    try:
        result = await engine.run(make_request(tmp_path), lambda _: None)
    finally:
        await engine.aclose()
    assert result.usage.cost_usd == pytest.approx(0.3)


async def test_an_output_schema_constrains_the_format_and_the_answer_is_parsed(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    model_server.script(Reply('{"answer": 42}'))
    engine = make_engine(model_server)
    try:
        result = await engine.run(make_request(tmp_path, output_schema=schema), lambda _: None)
    finally:
        await engine.aclose()
    assert result.structured == {"answer": 42}
    assert model_server.requests[0].json["format"] == schema


async def test_a_rate_limit_is_retryable_with_its_wait_and_the_retry_succeeds(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script(
        Failure(429, "too many requests", headers={"retry-after": "4"}), Reply("second time lucky")
    )
    events: list[EngineEvent] = []
    engine = make_engine(model_server)
    try:
        first = await engine.run(make_request(tmp_path), events.append)
        second = await engine.run(make_request(tmp_path), events.append)
    finally:
        await engine.aclose()
    assert first.error is not None
    assert first.error.kind is ErrorKind.RATE_LIMITED
    assert first.error.retry_after == 4.0
    assert RateLimitSignal(4.0) in events
    assert second.text == "second time lucky"


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


async def test_a_timeout_abandons_a_hanging_request(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script(Hang(), Reply("still serving"))
    engine = make_engine(model_server)
    try:
        with anyio.move_on_after(0.5) as scope:
            await engine.run(make_request(tmp_path), lambda _: None)
        assert scope.cancelled_caught
        after = await engine.run(make_request(tmp_path), lambda _: None)
    finally:
        await engine.aclose()
    assert after.text == "still serving"


async def test_cancel_stops_a_streaming_answer(model_server: ScriptedModelServer, tmp_path: Path) -> None:
    model_server.script(Hang())
    finished: list[object] = []
    engine = make_engine(model_server)
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:

                async def run() -> None:
                    finished.append(await engine.run(make_request(tmp_path), lambda _: None))

                group.start_soon(run)
                await anyio.to_thread.run_sync(model_server.wait_for_requests, 1)
                group.cancel_scope.cancel()
    finally:
        await engine.aclose()
    assert finished == []


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


async def test_status_says_how_to_start_an_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # the discard port: nothing listens there
    engine = OllamaEngine({})
    try:
        down = await engine.status()
    finally:
        await engine.aclose()
    assert not down.available
    assert "ollama serve" in down.detail

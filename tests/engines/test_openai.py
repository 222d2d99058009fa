"""What only the openai engine does (over real HTTP, scripted server); tests/engines/contract covers the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from parallelai.engines.base import EngineEvent, EngineRequest, RateLimitSignal, TextDelta
from parallelai.engines.openai import OpenAIEngine
from parallelai.models import ErrorKind, TaskOptions
from tests.support.model_server import Failure, Reply, ScriptedModelServer, Slow

SECRET = "sk-test-do-not-leak-0123456789"
APIS = ["chat", "responses"]


def make_engine(server: ScriptedModelServer, **settings: Any) -> OpenAIEngine:
    return OpenAIEngine({"base_url": f"{server.url}/v1", "api_key": SECRET, **settings})


def make_request(tmp_path: Path, *, model: str = "gpt-4.1", **options: Any) -> EngineRequest:
    return EngineRequest(
        task_id="t1", prompt="say hello", model=model, options=TaskOptions(**options), workdir=tmp_path
    )


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
async def test_a_slow_stream_is_read_delta_by_delta_as_it_arrives(
    model_server: ScriptedModelServer, tmp_path: Path, api: str
) -> None:
    model_server.script(Slow(Reply("one two three"), chunk_delay_s=0.05))
    deltas: list[str] = []
    engine = make_engine(model_server, api=api)
    try:
        result = await engine.run(
            make_request(tmp_path), lambda e: deltas.append(e.text) if isinstance(e, TextDelta) else None
        )
    finally:
        await engine.aclose()
    assert result.text == "one two three"
    assert "".join(deltas) == "one two three"
    assert len(deltas) == 3


@pytest.mark.anyio
async def test_prices_from_settings_extend_the_built_in_table(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script(Reply("ok", input_tokens=2_000_000, output_tokens=1_000_000))
    engine = make_engine(model_server, prices={"my-local-model": {"input": 0.5, "output": 1.5}})
    try:
        result = await engine.run(make_request(tmp_path, model="my-local-model"), lambda _: None)
    finally:
        await engine.aclose()
    assert result.usage.cost_usd == pytest.approx(2.5)


@pytest.mark.anyio
async def test_an_answer_that_is_not_json_fails_an_output_schema(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script(Reply("sorry, no JSON today"))
    engine = make_engine(model_server)
    try:
        result = await engine.run(make_request(tmp_path, output_schema={"type": "object"}), lambda _: None)
    finally:
        await engine.aclose()
    assert result.error is not None
    assert result.error.kind is ErrorKind.EXECUTION
    assert result.text == "sorry, no JSON today"


@pytest.mark.anyio
async def test_an_exhausted_window_is_signalled_from_the_ratelimit_headers(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script(Failure(429, "slow down", headers={"x-ratelimit-reset-requests": "1m30s"}))
    events: list[EngineEvent] = []
    engine = make_engine(model_server)
    try:
        result = await engine.run(make_request(tmp_path), events.append)
    finally:
        await engine.aclose()
    assert result.error is not None
    assert result.error.retry_after == 90.0
    assert events == [RateLimitSignal(90.0)]


@pytest.mark.anyio
async def test_a_model_is_required(model_server: ScriptedModelServer, tmp_path: Path) -> None:
    engine = make_engine(model_server)
    result = await engine.run(make_request(tmp_path, model=""), lambda _: None)
    assert result.error is not None
    assert "openai:gpt-4.1" in result.error.message


@pytest.mark.anyio
async def test_base_url_and_key_come_from_the_environment(
    model_server: ScriptedModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{model_server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    engine = OpenAIEngine({})
    try:
        result = await engine.run(make_request(tmp_path), lambda _: None)
    finally:
        await engine.aclose()
    assert result.text == "ok"
    assert model_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"

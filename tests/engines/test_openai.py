"""The openai engine against a real HTTP server speaking Chat Completions and the Responses API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.engines.base import EngineEvent, EngineRequest, RateLimitSignal, TextDelta, UsageReport
from parallelai.engines.openai import OpenAIEngine
from parallelai.models import ErrorKind, TaskOptions
from tests.support.model_server import Failure, Hang, Reply, ScriptedModelServer, Slow
from tests.support.model_server.openai import rate_limited

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
async def test_an_answer_streams_in_deltas_and_records_usage_and_cost(
    model_server: ScriptedModelServer, tmp_path: Path, api: str
) -> None:
    model_server.script(Reply("hello from the model", input_tokens=1000, output_tokens=500))
    events: list[EngineEvent] = []
    engine = make_engine(model_server, api=api)
    try:
        result = await engine.run(make_request(tmp_path), events.append)
    finally:
        await engine.aclose()

    assert result.ok, result.error
    assert result.text == "hello from the model"
    assert len([e for e in events if isinstance(e, TextDelta)]) > 1
    assert (result.usage.input_tokens, result.usage.output_tokens) == (1000, 500)
    assert result.usage.cost_usd == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)  # gpt-4.1 list price
    assert events[-1] == UsageReport(result.usage)
    (sent,) = model_server.requests
    assert sent.path == ("/v1/chat/completions" if api == "chat" else "/v1/responses")
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.json["stream"] is True


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
@pytest.mark.parametrize("api", APIS)
async def test_an_output_schema_is_sent_and_the_answer_parsed_as_json(
    model_server: ScriptedModelServer, tmp_path: Path, api: str
) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"],
              "additionalProperties": False}  # fmt: skip
    model_server.script(Reply('{"answer": 42}'))
    engine = make_engine(model_server, api=api)
    try:
        result = await engine.run(make_request(tmp_path, output_schema=schema), lambda _: None)
    finally:
        await engine.aclose()

    assert result.ok, result.error
    assert result.structured == {"answer": 42}
    body = model_server.requests[0].json
    sent_format = body["response_format"]["json_schema"] if api == "chat" else body["text"]["format"]
    assert sent_format["schema"] == schema
    assert sent_format["strict"] is True


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
@pytest.mark.parametrize("api", APIS)
async def test_a_rate_limit_is_retryable_with_the_wait_the_server_asked_for_and_the_retry_succeeds(
    model_server: ScriptedModelServer, tmp_path: Path, api: str
) -> None:
    model_server.script(rate_limited(2.5), Reply("second time lucky"))
    events: list[EngineEvent] = []
    engine = make_engine(model_server, api=api)
    try:
        first = await engine.run(make_request(tmp_path), events.append)
        second = await engine.run(make_request(tmp_path), events.append)
    finally:
        await engine.aclose()

    assert first.error is not None
    assert first.error.kind is ErrorKind.RATE_LIMITED
    assert first.error.kind.retryable
    assert first.error.retry_after == 2.5
    assert "Rate limit reached" in first.error.message
    assert RateLimitSignal(2.5) in events
    assert second.ok
    assert second.text == "second time lucky"


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
@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [(400, "Invalid schema for response_format", ErrorKind.BAD_REQUEST),
     (401, f"Incorrect API key provided: {SECRET}", ErrorKind.AUTH)],
)  # fmt: skip
async def test_a_fatal_error_is_reported_with_its_cause_and_no_secret(
    model_server: ScriptedModelServer, tmp_path: Path, status: int, message: str, kind: ErrorKind
) -> None:
    model_server.script(Failure(status, message))
    engine = make_engine(model_server)
    try:
        result = await engine.run(make_request(tmp_path), lambda _: None)
    finally:
        await engine.aclose()

    assert result.error is not None
    assert result.error.kind is kind
    assert not result.error.kind.retryable
    assert str(status) in result.error.message
    assert message.split(":")[0] in result.error.message
    assert SECRET not in result.error.message


@pytest.mark.anyio
async def test_a_model_is_required(model_server: ScriptedModelServer, tmp_path: Path) -> None:
    engine = make_engine(model_server)
    result = await engine.run(make_request(tmp_path, model=""), lambda _: None)
    assert result.error is not None
    assert "openai:gpt-4.1" in result.error.message


@pytest.mark.anyio
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


@pytest.mark.anyio
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


@pytest.mark.anyio
async def test_status_reports_a_reachable_server_and_a_missing_key(
    model_server: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    reachable, keyless = make_engine(model_server), OpenAIEngine({})
    try:
        up, missing = await reachable.status(), await keyless.status()
    finally:
        await reachable.aclose()
    assert up.available
    assert not missing.available
    assert "OPENAI_API_KEY" in missing.detail


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

"""The anthropic engine against the scripted model server, over real HTTP on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from parallelai.engines.anthropic import AnthropicEngine, _wait_seconds
from parallelai.engines.base import EngineEvent, EngineRequest, RateLimitSignal, TextDelta, UsageReport
from parallelai.engines.registry import EngineRegistry
from parallelai.models import ErrorKind, TaskOptions
from tests.support.model_server import Failure, Hang, Reply, ScriptedModelServer, Slow, ToolCall

pytestmark = pytest.mark.anyio

API_KEY = "sk-ant-api-test-abcdef0123456789"


class Harness:
    def __init__(self, server: ScriptedModelServer, workdir: Path) -> None:
        self.server = server
        self.workdir = workdir
        self.events: list[EngineEvent] = []
        self.engines: list[AnthropicEngine] = []

    def engine(self, **settings: Any) -> AnthropicEngine:
        engine = AnthropicEngine({"base_url": self.server.url, "api_key": API_KEY, **settings})
        self.engines.append(engine)
        return engine

    def request(
        self, prompt: str = "say hello", *, model: str | None = "claude-sonnet-4-5", **options: Any
    ) -> EngineRequest:
        return EngineRequest(
            task_id="t1", prompt=prompt, model=model, options=TaskOptions(**options), workdir=self.workdir
        )

    def emit(self, event: EngineEvent) -> None:
        self.events.append(event)


@pytest.fixture
async def harness(model_server: ScriptedModelServer, tmp_path: Path) -> Any:
    harness = Harness(model_server, tmp_path)
    yield harness
    for engine in harness.engines:
        await engine.aclose()


async def test_a_streamed_answer_comes_back_with_usage_and_cost(harness: Harness) -> None:
    harness.server.script(Reply("hello from the script", input_tokens=1000, output_tokens=2000))

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.ok, result.error
    assert result.text == "hello from the script"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (1000, 2000)
    assert result.usage.cost_usd == pytest.approx((1000 * 3.0 + 2000 * 15.0) / 1_000_000)
    assert "".join(e.text for e in harness.events if isinstance(e, TextDelta)) == "hello from the script"
    assert any(isinstance(e, UsageReport) for e in harness.events)
    (request,) = harness.server.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.json["stream"] is True
    assert request.json["messages"] == [{"role": "user", "content": "say hello"}]


async def test_a_slow_stream_still_arrives_whole_as_several_deltas(harness: Harness) -> None:
    harness.server.script(Slow(Reply("one two three four"), chunk_delay_s=0.01))

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.text == "one two three four"
    assert len([e for e in harness.events if isinstance(e, TextDelta)]) > 1


async def test_an_output_schema_is_a_forced_tool_whose_input_is_the_structured_answer(
    harness: Harness,
) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    harness.server.script(ToolCall("structured_output", {"answer": 42}))

    result = await harness.engine().run(harness.request(output_schema=schema), harness.emit)

    assert result.ok, result.error
    assert result.structured == {"answer": 42}
    body = harness.server.requests[0].json
    assert body["tools"][0]["input_schema"] == schema
    assert body["tool_choice"] == {"type": "tool", "name": "structured_output"}


async def test_a_429_waits_for_retry_after_and_the_next_attempt_succeeds(harness: Harness) -> None:
    harness.server.script(Failure(429, "Number of request tokens has exceeded your per-minute rate limit",
                                  headers={"retry-after": "7"}))  # fmt: skip
    engine = harness.engine()

    limited = await engine.run(harness.request(), harness.emit)
    retried = await engine.run(harness.request(), harness.emit)

    assert limited.error is not None
    assert limited.error.kind is ErrorKind.RATE_LIMITED
    assert limited.error.retry_after == 7.0
    assert "per-minute rate limit" in limited.error.message
    assert RateLimitSignal(7.0) in harness.events
    assert retried.ok
    assert retried.text == "ok"


async def test_a_429_without_retry_after_waits_until_the_exhausted_window_resets(harness: Harness) -> None:
    harness.server.script(
        Failure(429, "rate limited", headers={"anthropic-ratelimit-requests-remaining": "0",
                                              "anthropic-ratelimit-requests-reset": "2099-01-01T00:00:00Z"})
    )  # fmt: skip

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.RATE_LIMITED
    assert result.error.retry_after is not None
    assert result.error.retry_after > 0


def test_the_wait_is_the_latest_reset_among_exhausted_windows_only() -> None:
    headers = httpx.Headers({
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2030-01-01T00:00:10Z",
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": "2030-01-01T00:00:40Z",
        "anthropic-ratelimit-output-tokens-remaining": "500",
        "anthropic-ratelimit-output-tokens-reset": "2030-01-01T00:05:00Z",
    })  # fmt: skip

    assert _wait_seconds(headers, now=1893456000.0) == 40.0  # 2030-01-01T00:00:00Z
    assert _wait_seconds(httpx.Headers({"retry-after": "3", **dict(headers)}), now=1893456000.0) == 3.0


async def test_a_529_is_overloaded_and_retryable(harness: Harness) -> None:
    harness.server.script(Failure(529, "Overloaded"))

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.OVERLOADED
    assert result.error.kind.retryable
    assert "overloaded_error" in result.error.message


async def test_a_spend_limit_429_is_told_apart_and_never_retried(harness: Harness) -> None:
    harness.server.script(
        Failure(429, "You have reached your specified API usage limits. You will regain access on 2099-01-01.",
                headers={"retry-after": "60"})
    )  # fmt: skip

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.SPEND_LIMIT
    assert not result.error.kind.retryable
    assert result.error.retry_after is None
    assert not any(isinstance(e, RateLimitSignal) for e in harness.events)


@pytest.mark.parametrize(
    ("status", "kind"), [(400, ErrorKind.BAD_REQUEST), (401, ErrorKind.AUTH), (500, ErrorKind.TRANSIENT)]
)
async def test_http_failures_map_to_kinds_and_keep_their_cause(
    harness: Harness, status: int, kind: ErrorKind
) -> None:
    harness.server.script(Failure(status, "max_tokens: must be at most 64000"))

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.error is not None
    assert result.error.kind is kind
    assert "max_tokens: must be at most 64000" in result.error.message
    assert f"HTTP {status}" in result.error.message


async def test_a_hung_request_past_the_task_timeout_is_a_timeout(harness: Harness) -> None:
    harness.server.script(Hang())

    with anyio.fail_after(30):
        result = await harness.engine().run(harness.request(timeout=0.5), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.TIMEOUT


async def test_cancelling_a_hung_request_returns_promptly(harness: Harness) -> None:
    harness.server.script(Hang())
    engine = harness.engine()

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            with anyio.CancelScope() as scope:

                async def cancel_once_the_request_arrived() -> None:
                    await anyio.to_thread.run_sync(harness.server.wait_for_requests, 1, 20)
                    scope.cancel()

                group.start_soon(cancel_once_the_request_arrived)
                await engine.run(harness.request(), harness.emit)

    assert scope.cancelled_caught
    # The engine is still usable: the hung connection was dropped, not left in the pool.
    harness.server.script(Reply("after cancel"))
    assert (await engine.run(harness.request(), harness.emit)).text == "after cancel"


async def test_the_api_key_never_appears_in_results_or_events(harness: Harness) -> None:
    harness.server.script(Reply(f"your key is {API_KEY}"), Failure(401, f"invalid x-api-key {API_KEY}"))
    engine = harness.engine()

    answered = await engine.run(harness.request(), harness.emit)
    failed = await engine.run(harness.request(), harness.emit)

    assert API_KEY not in answered.model_dump_json()
    assert API_KEY not in failed.model_dump_json()
    assert API_KEY not in repr(harness.events)


async def test_without_a_key_the_status_says_how_to_set_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)

    status = await AnthropicEngine({}).status()

    assert not status.available
    assert "ANTHROPIC_API_KEY" in status.detail


def test_the_engine_is_registered_through_its_entry_point() -> None:
    assert isinstance(EngineRegistry.from_entry_points().create("anthropic", {}), AnthropicEngine)

"""What only the anthropic engine does (over real HTTP, scripted server); tests/engines/contract covers the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from parallelai.engines.anthropic import AnthropicEngine, _wait_seconds
from parallelai.engines.base import EngineEvent, EngineRequest, RateLimitSignal, TextDelta
from parallelai.models import ErrorKind, TaskOptions
from tests.support.model_server import Failure, Reply, ScriptedModelServer, Slow

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


async def test_a_slow_stream_still_arrives_whole_as_several_deltas(harness: Harness) -> None:
    harness.server.script(Slow(Reply("one two three four"), chunk_delay_s=0.01))

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.text == "one two three four"
    assert len([e for e in harness.events if isinstance(e, TextDelta)]) > 1


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


async def test_a_server_error_is_transient_and_names_its_status_and_cause(harness: Harness) -> None:
    harness.server.script(Failure(500, "max_tokens: must be at most 64000"))

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.TRANSIENT
    assert "max_tokens: must be at most 64000" in result.error.message
    assert "HTTP 500" in result.error.message

"""The rate gate in use: HTTP engines against a real loopback server, and runs through the service.

Times are the server's own (when each request arrived), never ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.engines.anthropic import AnthropicEngine
from parallelai.engines.base import EngineRequest
from parallelai.engines.openai import OpenAIEngine
from parallelai.models import ErrorKind, RunLimits, RunSpec, RunState, Task, TaskOptions, TaskState
from parallelai.orchestration.service import OrchestrationService
from parallelai.ratelimits import gate_states
from tests.ratelimits.conftest import TimedServer
from tests.support.model_server import Failure, Reply

pytestmark = pytest.mark.anyio
KEY = "sk-test-rate-gate-0123456789"
DEADLINE_S = 20.0


def make_engine(name: str, url: str, **settings: Any) -> OpenAIEngine | AnthropicEngine:
    if name == "openai":
        return OpenAIEngine({"base_url": f"{url}/v1", "api_key": KEY, **settings})
    return AnthropicEngine({"base_url": url, "api_key": KEY, **settings})


def request(tmp_path: Path, prompt: str) -> EngineRequest:
    return EngineRequest(task_id=prompt, prompt=prompt, model="m", options=TaskOptions(), workdir=tmp_path)


@pytest.mark.parametrize("engine_name", ["openai", "anthropic"])
async def test_after_a_429_no_request_of_that_account_reaches_the_server_before_its_retry_after(
    timed_server: TimedServer, tmp_path: Path, engine_name: str
) -> None:
    server, arrivals = timed_server.server, timed_server.arrivals
    server.script_for("refused", Failure(429, "slow down", headers={"retry-after-ms": "400"}))
    # Known limits (far above what this sends): no first request alone to learn them.
    engine = make_engine(engine_name, server.url, rate_limits={"requests_per_minute": 60_000})
    try:
        with anyio.fail_after(DEADLINE_S):
            refused = await engine.run(request(tmp_path, "refused"), lambda _: None)
            async with anyio.create_task_group() as group:
                for number in range(4):
                    group.start_soon(engine.run, request(tmp_path, f"other {number}"), lambda _: None)
    finally:
        await engine.aclose()

    assert refused.error is not None
    assert refused.error.kind is ErrorKind.RATE_LIMITED
    [refused_at] = arrivals.times("refused")
    others = arrivals.times("other")
    assert len(others) == 4
    assert min(others) - refused_at >= 0.4


def spec(url: str, run: str, tasks: int, **settings: Any) -> RunSpec:
    return RunSpec(
        default_engine="openai:gpt-4.1",
        engine_settings={"openai": {"base_url": f"{url}/v1", "api_key": KEY, **settings}},
        tasks=[Task(id=f"t{i}", prompt=f"{run} task {i}") for i in range(tasks)],
        use_cache=False,
    )


async def test_two_concurrent_runs_share_one_gate_and_together_stay_under_the_limit(
    timed_server: TimedServer, service: OrchestrationService
) -> None:
    server, arrivals = timed_server.server, timed_server.arrivals
    # 600 a minute: 10 a second, a little under it paced, and half a second's burst at most.
    limits = {"rate_limits": {"requests_per_minute": 600}}

    with anyio.fail_after(DEADLINE_S):
        first = await service.submit(spec(server.url, "first", 10, **limits))
        second = await service.submit(spec(server.url, "second", 10, **limits))
        summaries = [await service.wait(first), await service.wait(second)]

    assert [summary.state for summary in summaries] == [RunState.SUCCEEDED, RunState.SUCCEEDED]
    [gate] = gate_states()
    assert gate.admitted == 20
    assert gate.limits == {"requests": 600}
    times = sorted(arrivals.times())
    assert len(arrivals.times("first")) == len(arrivals.times("second")) == 10
    # Two gates of their own would let each run's 10 through in half a second; one shared gate
    # lets 5 go at once and the other 15 at 10 a second.
    burst, rate = 5, 10.0
    assert times[-1] - times[0] >= (len(times) - burst - 1) / rate
    jitter = 3  # requests admitted apart may arrive together (new connections, a busy loop)
    for i, started in enumerate(times):
        for j in range(i + 1, len(times)):
            assert j - i <= burst + jitter + rate * (times[j] - started), "more than the limit allows"


async def test_a_retry_after_beyond_the_ceiling_fails_the_task_as_rate_limited_with_the_hint(
    timed_server: TimedServer, service: OrchestrationService
) -> None:
    server = timed_server.server
    server.script(Failure(429, "daily quota spent", headers={"retry-after": "86400"}))
    run = spec(server.url, "doomed", 1)

    with anyio.fail_after(DEADLINE_S):
        summary = await service.wait(await service.submit(run))
    record = await service.task(summary.id, "t0")

    assert summary.state is RunState.FAILED
    assert record.state is TaskState.FAILED
    assert len(record.attempts) == 1  # not retried
    assert record.attempts[0].error is not None
    assert record.attempts[0].error.kind is ErrorKind.RATE_LIMITED
    assert "86400 s" in (record.reason or "")
    assert "ceiling" in (record.reason or "")
    assert gate_states()[0].paused_until is None  # nor does the account wait a day


async def test_with_the_gate_off_requests_go_at_once_as_before(
    timed_server: TimedServer, service: OrchestrationService
) -> None:
    server, arrivals = timed_server.server, timed_server.arrivals
    server.script(*[Reply("ok")] * 6)
    run = spec(server.url, "ungated", 6, rate_gate=False, rate_limits={"requests_per_minute": 1})

    with anyio.fail_after(DEADLINE_S):
        summary = await service.wait(await service.submit(run))

    assert summary.state is RunState.SUCCEEDED
    assert len(arrivals.times("ungated")) == 6  # one a minute would have taken five minutes
    assert gate_states() == []


async def test_a_run_s_own_ceiling_fails_a_wait_the_default_would_honour(
    timed_server: TimedServer, service: OrchestrationService
) -> None:
    server = timed_server.server
    server.script(Failure(429, "slow down", headers={"retry-after": "30"}))
    run = spec(server.url, "impatient", 1).model_copy(update={"limits": RunLimits(max_retry_after_s=5)})

    with anyio.fail_after(DEADLINE_S):
        summary = await service.wait(await service.submit(run))
    record = await service.task(summary.id, "t0")

    assert record.state is TaskState.FAILED
    assert len(record.attempts) == 1
    assert "30 s" in (record.reason or "")
    assert "5 s ceiling" in (record.reason or "")

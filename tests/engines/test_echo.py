"""The echo engine: a deterministic stand-in agent with knobs for latency, failures and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import ValidationError

from parallelai.engines.base import (
    Engine,
    EngineEvent,
    EngineRequest,
    RateLimitSignal,
    TextDelta,
    UsageReport,
)
from parallelai.engines.echo import EchoEngine
from parallelai.models import ErrorKind, TaskError, TaskOptions, TaskResult

pytestmark = pytest.mark.anyio


def _request(
    prompt: str = "hello world", attempt: int = 1, task_id: str = "t1", **options: Any
) -> EngineRequest:
    return EngineRequest(
        task_id=task_id,
        prompt=prompt,
        model=None,
        options=TaskOptions(engine_options=options),
        workdir=Path.cwd(),
        attempt=attempt,
    )


async def _run(engine: EchoEngine, request: EngineRequest) -> tuple[TaskResult, list[EngineEvent]]:
    emitted: list[EngineEvent] = []
    with anyio.fail_after(5):
        result = await engine.run(request, emitted.append)
    return result, emitted


async def test_echo_answers_with_the_prompt_and_reports_text_and_usage() -> None:
    result, emitted = await _run(EchoEngine({}), _request("hello world"))

    assert result.ok
    assert result.text == "echo: hello world"
    assert result.usage.input_tokens == 2  # 11 characters, about four to a token
    assert result.usage.output_tokens == 4
    assert result.usage.cost_usd == 0
    assert emitted == [TextDelta("echo: hello world"), UsageReport(result.usage)]


async def test_the_reply_template_and_output_size_shape_the_answer() -> None:
    engine = EchoEngine({"reply": "[{task_id}] {prompt}"})

    shaped, _ = await _run(engine, _request("abc", task_id="x"))
    padded, _ = await _run(engine, _request("abc", task_id="x", output_size=20))
    cut, _ = await _run(engine, _request("abc", task_id="x", output_size=3))

    assert shaped.text == "[x] abc"
    assert padded.text == "[x] abc[x] abc[x] ab"
    assert cut.text == "[x]"


async def test_cost_is_priced_per_thousand_tokens() -> None:
    result, _ = await _run(EchoEngine({"cost_per_1k_tokens": 2.0}), _request("p" * 40, output_size=3960))

    assert result.usage.total_tokens == 1000
    assert result.usage.cost_usd == pytest.approx(2.0)


async def test_the_first_attempts_fail_with_the_chosen_kind_and_retry_after_then_succeed() -> None:
    engine = EchoEngine({"fail_attempts": 2, "failure_kind": "rate_limited", "retry_after": 1.5})

    outcomes = [(await _run(engine, _request(attempt=n)))[0] for n in (1, 2, 3)]

    assert [outcome.ok for outcome in outcomes] == [False, False, True]
    assert outcomes[0].error == TaskError(kind=ErrorKind.RATE_LIMITED, message="simulated rate_limited failure",
                                          retry_after=1.5)  # fmt: skip


async def test_a_failure_rate_fails_the_same_attempts_every_time() -> None:
    engine = EchoEngine({"failure_rate": 0.5})

    def failures() -> list[int]:
        return [n for n in range(40) if not outcomes[n].ok]

    outcomes = [(await _run(engine, _request(task_id=f"t{n}")))[0] for n in range(40)]
    first = failures()
    outcomes = [
        (await _run(EchoEngine({"failure_rate": 0.5}), _request(task_id=f"t{n}")))[0] for n in range(40)
    ]

    assert failures() == first
    assert 5 < len(first) < 35


async def test_a_simulated_per_minute_limit_refuses_with_a_retry_after() -> None:
    engine = EchoEngine({"rate_limit_per_minute": 2})

    results = [await _run(engine, _request(task_id=f"t{n}")) for n in range(3)]

    assert [result.ok for result, _ in results] == [True, True, False]
    refused, emitted = results[2]
    assert refused.error is not None
    assert refused.error.kind is ErrorKind.RATE_LIMITED
    assert refused.error.retry_after is not None
    assert 0 < refused.error.retry_after <= 60
    assert emitted == [RateLimitSignal(refused.error.retry_after)]


async def test_a_simulated_concurrency_limit_refuses_attempts_beyond_it_while_others_are_answered() -> None:
    engine = EchoEngine({"max_concurrent": 2, "hang": True, "retry_after": 0.5})
    answering = [_request(task_id="a"), _request(task_id="b")]

    async with anyio.create_task_group() as group:
        for request in answering:
            group.start_soon(engine.run, request, lambda event: None)
        await anyio.wait_all_tasks_blocked()
        refused, emitted = await _run(engine, _request(task_id="c"))
        group.cancel_scope.cancel()
    after, _ = await _run(engine, _request(task_id="d", hang=False))

    assert refused.error == TaskError(
        kind=ErrorKind.RATE_LIMITED, message="simulated concurrency limit: 2 at once", retry_after=0.5
    )
    assert emitted == [RateLimitSignal(0.5)]
    assert after.ok  # the cancelled attempts gave their places back


async def test_a_hanging_task_answers_only_to_cancellation() -> None:
    engine = EchoEngine({"hang": True})

    with anyio.move_on_after(0.05) as scope:
        await engine.run(_request(), lambda event: None)

    assert scope.cancelled_caught


async def test_per_task_options_override_engine_settings() -> None:
    engine = EchoEngine({"reply": "A {prompt}", "latency": 0})

    result, _ = await _run(engine, _request("x", reply="B {prompt}"))

    assert result.text == "B x"


@pytest.mark.parametrize(
    "settings", [{"latncy": 1}, {"failure_rate": 2}, {"latency": -1}, {"failure_kind": "nope"}]
)
def test_bad_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EchoEngine(settings)


async def test_echo_is_always_available_and_satisfies_the_engine_protocol() -> None:
    engine = EchoEngine({})

    status = await engine.status()
    await engine.aclose()

    assert isinstance(engine, Engine)
    assert status.available
    assert status.name == "echo"

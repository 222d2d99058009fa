"""What every engine does, against the scripted model server: each sentence runs over every adapter."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from parallelai.engines.base import Activity, RateLimitSignal, TextDelta, UsageReport
from parallelai.models import ErrorKind, TaskResult
from tests.engines.contract.adapters import API_KEY, Adapter, Sentence
from tests.engines.contract.harness import REGISTRY, EngineUnderTest, over_engines
from tests.support.model_server import Hang, Reply
from tests.support.process_wait import fifo, stop_once_the_tree_is_up, wait_until_gone

pytestmark = pytest.mark.anyio

PROMPT = "--say hello: a leading dash is no flag"
SCHEMA: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "integer"}},
                          "required": ["answer"], "additionalProperties": False}  # fmt: skip
CAUSE = "the scripted cause of this failure"


@over_engines()
async def test_an_answer_comes_back_whole_with_its_usage_and_cost(engine_under_test: EngineUnderTest) -> None:
    under_test, adapter = engine_under_test, engine_under_test.adapter
    under_test.server.script(Reply("hello from the script", input_tokens=1000, output_tokens=500))

    result = await under_test.run(PROMPT)

    assert result.ok, result.error
    assert result.text == "hello from the script"
    assert "".join(e.text for e in under_test.events if isinstance(e, TextDelta)) == result.text
    if adapter.sessions:
        assert result.session_id  # for a follow-up that resumes the conversation
    if under_test.applies(Sentence.USAGE):
        assert (result.usage.input_tokens, result.usage.output_tokens) == (1000, 500)
        if adapter.cost is None:
            assert result.usage.cost_usd > 0
        else:
            assert result.usage.cost_usd == pytest.approx(adapter.cost)
        assert UsageReport(result.usage) in under_test.events
    (request,) = under_test.server.requests
    assert request.path == adapter.path
    header, value = adapter.auth
    assert request.headers[header] == value
    assert PROMPT in str(request.json)
    if adapter.removes_home:
        assert under_test.homes_left() == []


@over_engines(Sentence.TOOLS)
async def test_a_tool_call_runs_in_the_workdir_and_its_result_goes_back_to_the_model(
    engine_under_test: EngineUnderTest,
) -> None:
    under_test, tool = engine_under_test, engine_under_test.adapter.write
    assert tool is not None
    target = under_test.workdir / "out.txt"
    under_test.server.script(tool.call(target), Reply("wrote out.txt"))

    result = await under_test.run("write out.txt", engine=under_test.engine(**tool.settings))

    assert result.ok, result.error
    assert result.text == "wrote out.txt"
    assert target.read_text() == "done\n"
    activities = [e for e in under_test.events if isinstance(e, Activity)]
    assert any(a.kind in ("tool_call", "tool_result") and "out.txt" in a.detail for a in activities), (
        activities
    )
    assert len(under_test.server.requests) == 2  # the tool's result went back to the model


@over_engines(Sentence.SCHEMA)
async def test_an_output_schema_reaches_the_model_and_the_answer_comes_back_structured(
    engine_under_test: EngineUnderTest,
) -> None:
    under_test, adapter = engine_under_test, engine_under_test.adapter
    assert adapter.schema is not None
    under_test.server.script(*adapter.schema(SCHEMA))

    result = await under_test.run(output_schema=SCHEMA)

    assert result.ok, result.error
    assert result.structured == {"answer": 42}
    if adapter.sent_schema is not None:
        assert adapter.sent_schema(under_test.server.requests[0].json) == SCHEMA


@over_engines(Sentence.RATE_LIMIT)
async def test_a_rate_limit_is_retryable_with_its_wait_and_the_next_attempt_succeeds(
    engine_under_test: EngineUnderTest,
) -> None:
    under_test, adapter = engine_under_test, engine_under_test.adapter
    under_test.server.script(*adapter.rate_limit, Reply("second time lucky"))
    engine = under_test.engine()

    first = await under_test.run(engine=engine)
    second = await under_test.run(engine=engine)

    assert first.error is not None
    assert first.error.kind is ErrorKind.RATE_LIMITED
    assert first.error.kind.retryable
    assert first.error.retry_after == adapter.rate_limit_wait
    if adapter.rate_limit_signalled:
        assert RateLimitSignal(adapter.rate_limit_wait) in under_test.events
    assert second.ok, second.error
    assert second.text == "second time lucky"


async def _fails_as(under_test: EngineUnderTest, kind: ErrorKind) -> TaskResult:
    """The result of a run the server fails as `kind`, with the API key in its message."""
    under_test.server.script(*under_test.adapter.failures[kind](f"{CAUSE}: {API_KEY}"))

    result = await under_test.run()

    assert result.error is not None
    assert result.error.kind is kind
    if kind not in under_test.adapter.reworded:
        assert CAUSE in result.error.message
    assert API_KEY not in result.model_dump_json() + repr(under_test.events)
    return result


@over_engines()
async def test_an_auth_failure_is_fatal_and_keeps_its_cause(engine_under_test: EngineUnderTest) -> None:
    result = await _fails_as(engine_under_test, ErrorKind.AUTH)

    assert result.error is not None
    assert not result.error.kind.retryable


@over_engines(Sentence.OVERLOADED)
async def test_an_overloaded_provider_is_a_retryable_error(engine_under_test: EngineUnderTest) -> None:
    result = await _fails_as(engine_under_test, ErrorKind.OVERLOADED)

    assert result.error is not None
    assert result.error.kind.retryable


@over_engines(Sentence.BAD_REQUEST)
async def test_a_bad_request_is_fatal_and_keeps_its_cause(engine_under_test: EngineUnderTest) -> None:
    result = await _fails_as(engine_under_test, ErrorKind.BAD_REQUEST)

    assert result.error is not None
    assert not result.error.kind.retryable


@over_engines(Sentence.SECRETS_IN_ANSWERS)
async def test_the_api_key_never_appears_in_an_answer_or_its_events(
    engine_under_test: EngineUnderTest,
) -> None:
    engine_under_test.server.script(Reply(f"the key is {API_KEY}"))

    result = await engine_under_test.run()

    assert result.ok, result.error
    assert result.text.startswith("the key is ")
    assert API_KEY not in result.model_dump_json() + repr(engine_under_test.events)


@over_engines(Sentence.TIMEOUT)
async def test_a_run_past_its_timeout_is_a_timeout_error_and_leaves_no_process(
    engine_under_test: EngineUnderTest,
) -> None:
    under_test = engine_under_test
    under_test.server.script(Hang())

    with anyio.fail_after(60):
        result = await under_test.run(timeout=under_test.adapter.timeout_s)

    assert result.error is not None
    assert result.error.kind is ErrorKind.TIMEOUT
    if under_test.marker is not None:
        assert await wait_until_gone(set(), under_test.marker) == []


@over_engines(Sentence.PROCESS_TREE)
@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_a_timeout_or_cancel_stops_every_process_the_agent_started(
    engine_under_test: EngineUnderTest, how: str
) -> None:
    under_test, shell = engine_under_test, engine_under_test.adapter.shell
    assert shell is not None
    assert under_test.marker is not None
    started = fifo(under_test.tmp_path / "started.fifo")
    # The tool's shell says through the fifo that the tree is up, then waits.
    under_test.server.script(shell.call(f"echo up > {started} && sleep 600"))
    engine = under_test.engine(**shell.settings)

    sessions = await stop_once_the_tree_is_up(
        lambda: under_test.run("run a long command", engine=engine), started, under_test.marker, how
    )

    assert await wait_until_gone(sessions, under_test.marker) == []
    if under_test.adapter.removes_home:
        assert under_test.homes_left() == []  # the attempt's home went with it


@over_engines(Sentence.CANCEL_HUNG)
async def test_cancelling_a_hung_run_returns_promptly_and_the_engine_still_answers(
    engine_under_test: EngineUnderTest,
) -> None:
    under_test = engine_under_test
    under_test.server.script(Hang(), Reply("still serving"))
    engine = under_test.engine()

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            with anyio.CancelScope() as scope:

                async def cancel_once_the_request_arrived() -> None:
                    await anyio.to_thread.run_sync(under_test.server.wait_for_requests, 1, 20)
                    scope.cancel()

                group.start_soon(cancel_once_the_request_arrived)
                await under_test.run(engine=engine)
        after = await under_test.run(engine=engine)

    assert scope.cancelled_caught
    assert after.text == "still serving"  # the hung connection was dropped, not left in a pool


@over_engines()
async def test_status_says_the_engine_is_available_and_its_version(
    engine_under_test: EngineUnderTest,
) -> None:
    status = await engine_under_test.engine().status()

    assert status.available, status.detail
    if engine_under_test.adapter.version is not None:
        assert status.version == engine_under_test.adapter.version


@over_engines()
async def test_status_of_an_engine_that_cannot_run_says_what_to_do(
    engine_under_test: EngineUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = engine_under_test.adapter

    status = await engine_under_test.build(adapter.unusable(monkeypatch)).status()

    assert not status.available
    assert adapter.unusable_hint in status.detail


@over_engines()
def test_the_engine_is_registered_through_its_entry_point(adapter: Adapter) -> None:
    assert REGISTRY.create(adapter.name, adapter.registry_settings).name == adapter.name

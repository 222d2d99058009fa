"""The claude-code engine, driving the real `claude` CLI against the scripted model server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.engines._process import ProcessOutcome
from parallelai.engines.base import (
    Activity,
    EngineEvent,
    EngineRequest,
    RateLimitSignal,
    TextDelta,
    UsageReport,
)
from parallelai.engines.claude_code import ClaudeCodeEngine, _StreamReader
from parallelai.engines.registry import EngineRegistry
from parallelai.models import ErrorKind, TaskOptions
from tests.support.model_server import Failure, Hang, Reply, ScriptedModelServer, ToolCall
from tests.support.process_wait import fifo, stop_once_the_tree_is_up, wait_until_gone

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

API_KEY = "sk-ant-test-0123456789abcdef"


class Harness:
    """One engine wired to the scripted server, with a private workdir and config root."""

    def __init__(self, server: ScriptedModelServer, claude: Path, tmp_path: Path) -> None:
        self.server = server
        self.workdir = tmp_path / "work"
        self.workdir.mkdir()
        self.config_root = tmp_path / "claude-config"
        self.settings: dict[str, Any] = {
            "binary": str(claude),
            "base_url": server.url,
            "api_key": API_KEY,
            "config_root": str(self.config_root),
            "inherit_config_from": "",  # never the developer's own ~/.claude
            "cli_max_retries": 0,
            "launch_interval_s": 0,
        }
        self.events: list[EngineEvent] = []

    def engine(self, **settings: Any) -> ClaudeCodeEngine:
        return ClaudeCodeEngine({**self.settings, **settings})

    def request(self, prompt: str = "say hello", *, attempt: int = 1, **options: Any) -> EngineRequest:
        return EngineRequest(
            task_id="t1", prompt=prompt, model=None, options=TaskOptions(**options), workdir=self.workdir,
            attempt=attempt,
        )  # fmt: skip

    def emit(self, event: EngineEvent) -> None:
        self.events.append(event)


@pytest.fixture
def harness(model_server: ScriptedModelServer, cli_bin: Callable[[str], Path], tmp_path: Path) -> Harness:
    return Harness(model_server, cli_bin("claude"), tmp_path)


async def test_a_plain_answer_comes_back_with_usage_cost_and_session(harness: Harness) -> None:
    harness.server.script(Reply("hello from the script", input_tokens=30, output_tokens=5))

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.ok, result.error
    assert result.text == "hello from the script"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (30, 5)
    assert result.usage.cost_usd > 0
    assert result.session_id
    assert TextDelta("hello from the script") in harness.events
    assert any(isinstance(event, UsageReport) and event.usage == result.usage for event in harness.events)
    (request,) = harness.server.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == API_KEY
    assert "say hello" in str(request.json)


async def test_each_task_gets_its_own_config_dir_with_the_session_in_it(harness: Harness) -> None:
    harness.server.script(Reply("one"), Reply("two"))
    engine = harness.engine()

    first = await engine.run(harness.request(), harness.emit)
    second = await engine.run(harness.request(attempt=2), harness.emit)

    dirs = sorted(path.name for path in harness.config_root.iterdir())
    assert len(dirs) == 2
    assert dirs[0].startswith("t1-1-")
    assert dirs[1].startswith("t1-2-")
    assert list(harness.config_root.glob(f"t1-1-*/projects/*/{first.session_id}.jsonl"))
    assert first.session_id != second.session_id


async def test_a_follow_up_task_resumes_the_session_of_an_earlier_one(harness: Harness) -> None:
    harness.server.script(Reply("the secret word is tangerine"), Reply("it was tangerine"))
    engine = harness.engine()
    first = await engine.run(harness.request("remember a word"), harness.emit)

    follow_up = await engine.run(
        harness.request("what was the word?", engine_options={"resume": first.session_id}), harness.emit
    )

    assert follow_up.ok, follow_up.error
    resumed = harness.server.requests[1].json
    assert "the secret word is tangerine" in str(resumed["messages"])  # the earlier turn went back up


async def test_a_scripted_write_tool_call_creates_the_file_in_the_task_workdir(harness: Harness) -> None:
    target = harness.workdir / "notes" / "out.txt"
    harness.server.script(
        ToolCall("Write", {"file_path": str(target), "content": "written by claude\n"}, call_id="toolu_1"),
        Reply("done"),
    )

    result = await harness.engine(allowed_tools=["Write"]).run(
        harness.request("write the file"), harness.emit
    )

    assert result.ok, result.error
    assert result.text == "done"
    assert target.read_text() == "written by claude\n"
    activities = [event for event in harness.events if isinstance(event, Activity)]
    assert any(a.kind == "tool_call" and a.detail.startswith("Write ") for a in activities)
    assert any(a.kind == "tool_result" for a in activities)
    assert len(harness.server.requests) == 2  # the tool result went back to the model


async def test_an_output_schema_becomes_the_structured_result(harness: Harness) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    harness.server.script(ToolCall("StructuredOutput", {"answer": 42}, call_id="toolu_1"), Reply("done"))

    result = await harness.engine().run(harness.request(output_schema=schema), harness.emit)

    assert result.ok, result.error
    assert result.structured == {"answer": 42}


async def test_with_partial_messages_text_streams_in_pieces(harness: Harness) -> None:
    harness.server.script(Reply("one two three four five six"))

    result = await harness.engine(partial_messages=True).run(harness.request(), harness.emit)

    deltas = [event.text for event in harness.events if isinstance(event, TextDelta)]
    assert len(deltas) > 1
    assert "".join(deltas) == result.text == "one two three four five six"


async def test_a_denied_tool_is_reported_and_the_file_is_not_written(harness: Harness) -> None:
    target = harness.workdir / "out.txt"
    harness.server.script(ToolCall("Write", {"file_path": str(target), "content": "x"}), Reply("could not"))

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.ok  # the CLI finished normally; the denial is information, not a failure
    assert not target.exists()
    assert Activity("permission_denied", "Write was not allowed to run") in harness.events


async def test_a_429_is_a_retryable_rate_limit_and_the_next_attempt_succeeds(harness: Harness) -> None:
    harness.server.script(
        Failure(429, "Number of requests has exceeded your rate limit", headers={"retry-after": "3"})
    )
    engine = harness.engine()

    first = await engine.run(harness.request(), harness.emit)
    second = await engine.run(harness.request(attempt=2), harness.emit)

    assert first.error is not None
    assert first.error.kind is ErrorKind.RATE_LIMITED
    assert first.error.kind.retryable
    assert "429" in first.error.message
    assert second.ok, second.error
    assert second.text == "ok"


async def test_the_clis_own_retry_delay_is_reported_as_retry_after(harness: Harness) -> None:
    harness.server.script(*[Failure(429, "slow down", headers={"retry-after": "1"})] * 2)

    result = await harness.engine(cli_max_retries=1).run(harness.request(), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.RATE_LIMITED
    assert result.error.retry_after == 1.0
    assert RateLimitSignal(1.0) in harness.events


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (Failure(529, "Overloaded"), ErrorKind.OVERLOADED),
        (Failure(500, "internal"), ErrorKind.TRANSIENT),
        (Failure(401, "invalid x-api-key"), ErrorKind.AUTH),
        (Failure(429, "You have reached your specified API usage limits", error_type="billing_error"),
         ErrorKind.SPEND_LIMIT),
    ],
)  # fmt: skip
async def test_api_failures_map_to_their_error_kind(
    harness: Harness, failure: Failure, kind: ErrorKind
) -> None:
    harness.server.script(failure)

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.error is not None
    assert result.error.kind is kind


async def test_a_400_is_a_fatal_bad_request_that_names_its_cause(harness: Harness) -> None:
    harness.server.script(Failure(400, "messages.0.content: field required"))

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.BAD_REQUEST
    assert not result.error.kind.retryable
    assert "messages.0.content: field required" in result.error.message


async def test_the_api_key_never_appears_in_results_or_events(harness: Harness) -> None:
    harness.server.script(Reply(f"the key is {API_KEY}"), Failure(400, f"bad key {API_KEY}"))
    engine = harness.engine()

    answered = await engine.run(harness.request(), harness.emit)
    failed = await engine.run(harness.request(attempt=2), harness.emit)

    assert API_KEY not in answered.model_dump_json()
    assert API_KEY not in failed.model_dump_json()
    assert API_KEY not in repr(harness.events)


async def test_cancelling_a_run_kills_claude_and_every_process_it_started(
    harness: Harness, tmp_path: Path
) -> None:
    started = fifo(tmp_path / "started.fifo")
    # The tool's shell says through the fifo that the tree is up, then waits.
    harness.server.script(ToolCall("Bash", {"command": f"echo up > {started} && sleep 600"}))
    engine = harness.engine(allowed_tools=["Bash"])
    sessions = await stop_once_the_tree_is_up(
        lambda: engine.run(harness.request("run a long command"), harness.emit),
        started,
        str(harness.config_root),
    )
    assert await wait_until_gone(sessions, str(harness.config_root)) == []


async def test_a_run_past_its_timeout_is_a_timeout_error_and_leaves_no_process(harness: Harness) -> None:
    harness.server.script(Hang())

    with anyio.fail_after(60):
        result = await harness.engine().run(harness.request(timeout=1.5), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.TIMEOUT
    assert await wait_until_gone(set(), str(harness.config_root)) == []


async def test_a_missing_binary_is_reported_by_status_with_how_to_install() -> None:
    engine = ClaudeCodeEngine({"binary": "/nonexistent/claude"})

    status = await engine.status()

    assert not status.available
    assert "npm install -g @anthropic-ai/claude-code" in status.detail


async def test_status_reports_the_cli_version(harness: Harness) -> None:
    status = await harness.engine().status()

    assert status.available, status.detail
    assert status.version == "2.1.197"


async def test_status_without_any_credentials_says_how_to_log_in(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = {k: v for k, v in harness.settings.items() if k != "api_key"}

    status = await ClaudeCodeEngine(settings).status()

    assert not status.available
    assert "ANTHROPIC_API_KEY" in status.detail
    assert "claude login" in status.detail


def test_the_engine_is_registered_through_its_entry_point() -> None:
    engine = EngineRegistry.from_entry_points().create("claude-code", {"binary": "claude"})

    assert isinstance(engine, ClaudeCodeEngine)


def test_without_a_result_line_the_attempt_failed_even_with_exit_code_zero() -> None:
    reader = _StreamReader(lambda event: None, partial=False)
    reader.feed('{"type":"system","subtype":"init","session_id":"s-1","model":"m"}')
    reader.feed('{"type":"assistant","message":{"content":[{"type":"text","text":"partial answer"}]}}')

    result = reader.outcome(ProcessOutcome(returncode=0, stdout="", stderr="", truncated=False))

    assert result.error is not None
    assert result.error.kind is ErrorKind.EXECUTION
    assert "without a result line" in result.error.message
    assert result.text == "partial answer"
    assert result.session_id == "s-1"


def test_lines_of_unknown_types_and_plain_text_are_ignored() -> None:
    reader = _StreamReader(lambda event: None, partial=False)
    for line in ["warning: something", '{"type":"brand_new_kind","x":1}', "", '{"type":"result","subtype":"success",'
                 '"is_error":false,"result":"fine","session_id":"s-2","total_cost_usd":0.5,"usage":{}}']:  # fmt: skip
        reader.feed(line)

    result = reader.outcome(ProcessOutcome(returncode=0, stdout="", stderr="", truncated=False))

    assert result.ok
    assert result.text == "fine"
    assert result.usage.cost_usd == 0.5


def test_a_rejected_rate_limit_event_signals_the_wait_and_becomes_retry_after() -> None:
    events: list[EngineEvent] = []
    reader = _StreamReader(events.append, partial=False)
    reader.feed('{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":4102444800,'
                '"rateLimitType":"five_hour"}}')  # fmt: skip
    reader.feed('{"type":"result","subtype":"success","is_error":true,"api_error_status":429,'
                '"result":"API Error: Request rejected (429)","session_id":"s-3"}')  # fmt: skip

    result = reader.outcome(ProcessOutcome(returncode=1, stdout="", stderr="", truncated=False))

    signals = [event for event in events if isinstance(event, RateLimitSignal)]
    assert len(signals) == 1
    assert signals[0].retry_after_s is not None
    assert signals[0].retry_after_s > 0
    assert result.error is not None
    assert result.error.kind is ErrorKind.RATE_LIMITED
    assert result.error.retry_after == signals[0].retry_after_s

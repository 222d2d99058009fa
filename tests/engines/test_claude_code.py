"""What only the claude-code engine does (the real CLI, scripted server); tests/engines/contract covers the rest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from parallelai.engines._cli.process import ProcessOutcome
from parallelai.engines.base import (
    Activity,
    EngineEvent,
    EngineRequest,
    RateLimitSignal,
    TextDelta,
)
from parallelai.engines.claude_code import ClaudeCodeEngine, _StreamReader
from parallelai.models import ErrorKind, TaskOptions
from tests.support.model_server import Failure, Reply, ScriptedModelServer, ToolCall

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
        (Failure(500, "internal"), ErrorKind.TRANSIENT),
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

"""The codex engine, driving the real `codex` CLI against the scripted model server (Responses API)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.engines.base import (
    Activity,
    EngineEvent,
    EngineRequest,
    RateLimitSignal,
    TextDelta,
    UsageReport,
)
from parallelai.engines.codex import CodexEngine
from parallelai.models import ErrorKind, TaskOptions
from tests.support.model_server import Failure, Hang, Reply, ScriptedModelServer, ToolCall
from tests.support.model_server.openai import rate_limited
from tests.support.process_wait import fifo, stop_once_the_tree_is_up, wait_until_gone
from tests.support.processes import processes_with_env

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

API_KEY = "sk-codex-test-0123456789abcdef"


class Harness:
    """One codex engine wired to the scripted server, with a private workdir and home root."""

    def __init__(self, server: ScriptedModelServer, codex: Path, tmp_path: Path) -> None:
        self.server = server
        self.tmp_path = tmp_path
        self.workdir = tmp_path / "work"
        self.workdir.mkdir()
        self.home_root = tmp_path / "codex-homes"
        self.settings: dict[str, Any] = {
            "binary": str(codex),
            "base_url": f"{server.url}/v1",
            "api_key": API_KEY,
            "home_root": str(self.home_root),
            "inherit_home_from": "",  # never the developer's own ~/.codex
            "cli_max_retries": 0,  # codex would otherwise retry a 429 itself, several times
        }
        self.events: list[EngineEvent] = []

    def engine(self, **settings: Any) -> CodexEngine:
        return CodexEngine({**self.settings, **settings})

    def request(
        self, prompt: str = "say hello", *, model: str | None = "gpt-4.1", **options: Any
    ) -> EngineRequest:
        return EngineRequest(
            task_id="t1", prompt=prompt, model=model, options=TaskOptions(**options), workdir=self.workdir
        )

    def emit(self, event: EngineEvent) -> None:
        self.events.append(event)


@pytest.fixture
def harness(model_server: ScriptedModelServer, cli_bin: Callable[[str], Path], tmp_path: Path) -> Harness:
    return Harness(model_server, cli_bin("codex"), tmp_path)


async def test_a_plain_answer_comes_back_with_usage_and_cost(harness: Harness) -> None:
    harness.server.script(Reply("hello from the script", input_tokens=1000, output_tokens=500))

    # The prompt travels on stdin: a leading dash is no flag, and no argv limit applies.
    result = await harness.engine().run(harness.request("--say hello " + "x" * 200_000), harness.emit)

    assert result.ok, result.error
    assert result.text == "hello from the script"
    assert result.session_id  # for a follow-up that resumes the conversation
    assert (result.usage.input_tokens, result.usage.output_tokens) == (1000, 500)
    assert result.usage.cost_usd == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    assert TextDelta("hello from the script") in harness.events
    assert UsageReport(result.usage) in harness.events
    (request,) = harness.server.requests
    assert "--say hello xxx" in str(request.json)
    assert request.path == "/v1/responses"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.json["model"] == "gpt-4.1"
    assert API_KEY not in repr(harness.events) + result.model_dump_json()
    assert list(harness.home_root.iterdir()) == []  # the attempt's CODEX_HOME is gone


async def test_a_tool_call_writes_a_file_in_the_workdir_then_answers(harness: Harness) -> None:
    harness.server.script(ToolCall("exec_command", {"cmd": "echo done > out.txt"}), Reply("wrote out.txt"))

    # A model codex has no metadata for makes it send an "error" item: a warning, not a failure.
    result = await harness.engine().run(harness.request("write out.txt", model="gpt-scripted"), harness.emit)

    assert result.ok, result.error
    assert result.text == "wrote out.txt"
    assert (harness.workdir / "out.txt").read_text() == "done\n"
    assert any(
        isinstance(e, Activity) and e.kind == "tool_call" and "out.txt" in e.detail for e in harness.events
    )
    assert any(isinstance(e, Activity) and e.kind == "warning" for e in harness.events)
    assert len(harness.server.requests) == 2


async def test_an_output_schema_reaches_the_model_and_the_answer_is_parsed(harness: Harness) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"],
              "additionalProperties": False}  # fmt: skip
    harness.server.script(Reply('{"answer": 42}'))

    result = await harness.engine().run(harness.request(output_schema=schema), harness.emit)

    assert result.ok, result.error
    assert result.structured == {"answer": 42}
    assert harness.server.requests[0].json["text"]["format"]["schema"] == schema


async def test_a_rate_limit_is_retryable_and_the_retry_succeeds(harness: Harness) -> None:
    harness.server.script(rate_limited(1), Reply("second time lucky"))
    engine = harness.engine()

    first = await engine.run(harness.request(), harness.emit)
    second = await engine.run(harness.request(), harness.emit)

    assert first.error is not None
    assert first.error.kind is ErrorKind.RATE_LIMITED
    assert first.error.kind.retryable
    assert "429" in first.error.message
    assert RateLimitSignal(None) in harness.events  # codex does not pass the server's wait on
    assert second.ok, second.error
    assert second.text == "second time lucky"


async def test_a_fatal_error_is_reported_with_its_cause(harness: Harness) -> None:
    harness.server.script(Failure(401, f"Incorrect API key provided: {API_KEY}"))

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.AUTH
    assert "Incorrect API key provided" in result.error.message
    assert API_KEY not in result.error.message


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_a_timeout_or_cancel_kills_codex_and_every_process_it_started(
    harness: Harness, tmp_path: Path, how: str
) -> None:
    started = fifo(tmp_path / "started.fifo")
    # The tool's shell says through the fifo that the tree is up, then waits.
    harness.server.script(ToolCall("exec_command", {"cmd": f"echo up > {started} && sleep 600"}))
    engine = harness.engine(sandbox="danger-full-access")
    sessions = await stop_once_the_tree_is_up(
        lambda: engine.run(harness.request("run a long command"), harness.emit),
        started,
        str(harness.home_root),
        how,
    )
    assert await wait_until_gone(sessions, str(harness.home_root)) == []
    assert list(harness.home_root.iterdir()) == []  # the attempt's home went with it


async def test_a_run_past_its_timeout_option_is_a_timeout_error(harness: Harness) -> None:
    harness.server.script(Hang())

    with anyio.fail_after(60):
        result = await harness.engine().run(harness.request(timeout=1.5), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.TIMEOUT
    assert processes_with_env(str(harness.home_root)) == []


async def test_status_gives_the_version_or_says_how_to_install(harness: Harness) -> None:
    found = await harness.engine().status()
    missing = await CodexEngine({"binary": "/nonexistent/codex"}).status()

    assert found.available, found.detail
    assert found.version == "0.169.0"
    assert not missing.available
    assert "npm install" in missing.detail

"""The gemini-cli engine, driving the real `gemini` CLI against the scripted model server (Gemini API)."""

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
from parallelai.engines.gemini_cli import GeminiCliEngine
from parallelai.models import ErrorKind, TaskOptions
from tests.support.model_server import Failure, Hang, Reply, ScriptedModelServer, ToolCall
from tests.support.process_wait import fifo, stop_once_the_tree_is_up, wait_until_gone
from tests.support.processes import processes_with_env

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

API_KEY = "gemini-test-key-0123456789abcdef"


class Harness:
    """One gemini-cli engine wired to the scripted server, with a private workdir and home root."""

    def __init__(self, server: ScriptedModelServer, gemini: Path, tmp_path: Path) -> None:
        self.server = server
        self.workdir = tmp_path / "work"
        self.workdir.mkdir()
        self.home_root = tmp_path / "gemini-homes"
        self.settings: dict[str, Any] = {
            "binary": str(gemini),
            "base_url": server.url,
            "api_key": API_KEY,
            "home_root": str(self.home_root),
            "inherit_home_from": "",  # never the developer's own ~/.gemini
            "cli_max_attempts": 1,  # the CLI would otherwise back off and retry a 429 for minutes
        }
        self.events: list[EngineEvent] = []

    def engine(self, **settings: Any) -> GeminiCliEngine:
        return GeminiCliEngine({**self.settings, **settings})

    def request(self, prompt: str = "say hello", **options: Any) -> EngineRequest:
        # A model is always named: without one the CLI first asks the model to pick a model.
        return EngineRequest(
            task_id="t1",
            prompt=prompt,
            model="gemini-2.5-flash",
            options=TaskOptions(**options),
            workdir=self.workdir,
        )

    def emit(self, event: EngineEvent) -> None:
        self.events.append(event)


@pytest.fixture
def harness(model_server: ScriptedModelServer, cli_bin: Callable[[str], Path], tmp_path: Path) -> Harness:
    return Harness(model_server, cli_bin("gemini"), tmp_path)


async def test_a_plain_answer_comes_back_with_usage_and_cost(harness: Harness) -> None:
    harness.server.script(Reply("hello from the script", input_tokens=1000, output_tokens=500))

    result = await harness.engine().run(
        harness.request("--say hello xxx: a leading dash is no flag"), harness.emit
    )

    assert result.ok, result.error
    assert result.text == "hello from the script"
    assert result.session_id  # for a follow-up that resumes the conversation
    assert (result.usage.input_tokens, result.usage.output_tokens) == (1000, 500)
    assert result.usage.cost_usd == pytest.approx((1000 * 0.3 + 500 * 2.5) / 1e6)
    assert "".join(e.text for e in harness.events if isinstance(e, TextDelta)) == "hello from the script"
    assert UsageReport(result.usage) in harness.events
    (request,) = harness.server.requests
    assert "--say hello xxx" in str(request.json)
    assert request.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert request.headers["x-goog-api-key"] == API_KEY
    assert API_KEY not in repr(harness.events) + result.model_dump_json()
    assert list(harness.home_root.iterdir()) == []  # the attempt's home is gone


async def test_a_tool_call_writes_a_file_in_the_workdir_then_answers(harness: Harness) -> None:
    harness.server.script(
        ToolCall("write_file", {"file_path": "out.txt", "content": "done\n"}), Reply("wrote out.txt")
    )

    # The default approval mode offers no write tools; auto_edit does, and approves them.
    result = await harness.engine(approval_mode="auto_edit").run(
        harness.request("write out.txt"), harness.emit
    )

    assert result.ok, result.error
    assert result.text == "wrote out.txt"
    assert (harness.workdir / "out.txt").read_text() == "done\n"
    assert any(
        isinstance(e, Activity) and e.kind == "tool_call" and "out.txt" in e.detail for e in harness.events
    )
    assert any(
        isinstance(e, Activity) and e.kind == "tool_result" and "success" in e.detail for e in harness.events
    )


async def test_a_rate_limit_is_retryable_with_the_wait_and_the_retry_succeeds(harness: Harness) -> None:
    harness.server.script(
        Failure(429, "Quota exceeded", headers={"retry-after": "7"}), Reply("second time lucky")
    )
    engine = harness.engine()

    first = await engine.run(harness.request(), harness.emit)
    second = await engine.run(harness.request(), harness.emit)

    assert first.error is not None
    assert first.error.kind is ErrorKind.RATE_LIMITED
    assert first.error.kind.retryable
    assert first.error.retry_after == 7.0  # from the RetryInfo the API puts in its error body
    assert RateLimitSignal(7.0) in harness.events
    assert second.ok, second.error
    assert second.text == "second time lucky"


async def test_a_fatal_error_is_reported_with_its_cause(harness: Harness) -> None:
    harness.server.script(Failure(400, "Invalid JSON payload received"))

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.BAD_REQUEST
    assert "Invalid JSON payload received" in result.error.message


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_a_timeout_or_cancel_kills_gemini_and_every_process_it_started(
    harness: Harness, tmp_path: Path, how: str
) -> None:
    started = fifo(tmp_path / "started.fifo")
    # The tool's shell says through the fifo that the tree is up, then waits.
    harness.server.script(ToolCall("run_shell_command", {"command": f"echo up > {started} && sleep 600"}))
    engine = harness.engine(approval_mode="yolo")
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
        result = await harness.engine().run(harness.request(timeout=3), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.TIMEOUT
    assert processes_with_env(str(harness.home_root)) == []


async def test_status_gives_the_version_or_says_how_to_install(harness: Harness) -> None:
    found = await harness.engine().status()
    missing = await GeminiCliEngine({"binary": "/nonexistent/gemini"}).status()

    assert found.available, found.detail
    assert found.version == "0.61.0"
    assert not missing.available
    assert "npm install" in missing.detail

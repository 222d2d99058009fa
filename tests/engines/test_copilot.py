"""The copilot engine, driving the real `copilot` CLI against the scripted model server (Chat Completions)."""

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
from parallelai.engines.copilot import CopilotEngine
from parallelai.models import ErrorKind, TaskOptions
from tests.support.model_server import Failure, Hang, Reply, ScriptedModelServer, ToolCall
from tests.support.model_server.openai import rate_limited
from tests.support.process_wait import fifo, stop_once_the_tree_is_up, wait_until_gone
from tests.support.processes import processes_with_env

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

API_KEY = "sk-copilot-test-0123456789abcdef"


class Harness:
    """One copilot engine wired to the scripted server, with a private workdir and home root."""

    def __init__(self, server: ScriptedModelServer, copilot: Path, tmp_path: Path) -> None:
        self.server = server
        self.tmp_path = tmp_path
        self.workdir = tmp_path / "work"
        self.workdir.mkdir()
        self.home_root = tmp_path / "copilot-homes"
        self.settings: dict[str, Any] = {
            "binary": str(copilot),
            "base_url": f"{server.url}/v1",
            "api_key": API_KEY,
            "home_root": str(self.home_root),
            "inherit_home_from": "",  # never the developer's own ~/.copilot
        }
        self.events: list[EngineEvent] = []

    def engine(self, **settings: Any) -> CopilotEngine:
        return CopilotEngine({**self.settings, **settings})

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
    return Harness(model_server, cli_bin("copilot"), tmp_path)


async def test_a_plain_answer_comes_back_with_usage_and_cost(harness: Harness) -> None:
    harness.server.script(Reply("hello from the script", input_tokens=1000, output_tokens=500))

    result = await harness.engine().run(
        harness.request("--say hello xxx: a leading dash is no flag"), harness.emit
    )

    assert result.ok, result.error
    assert result.text == "hello from the script"
    assert result.session_id  # for a follow-up that resumes the conversation
    assert (result.usage.input_tokens, result.usage.output_tokens) == (1000, 500)
    assert result.usage.cost_usd == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    assert "".join(e.text for e in harness.events if isinstance(e, TextDelta)) == "hello from the script"
    assert UsageReport(result.usage) in harness.events
    (request,) = harness.server.requests
    assert "--say hello xxx" in str(request.json)
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.json["model"] == "gpt-4.1"
    assert API_KEY not in repr(harness.events) + result.model_dump_json()
    assert list(harness.home_root.iterdir()) == []  # the attempt's CODEX_HOME is gone


async def test_a_tool_call_writes_a_file_in_the_workdir_then_answers(harness: Harness) -> None:
    target = harness.workdir / "out.txt"
    harness.server.script(
        ToolCall("create", {"path": str(target), "file_text": "done\n"}), Reply("wrote out.txt")
    )

    # Only the write tool is allowed: copilot refuses the others without asking anyone.
    result = await harness.engine(allow_tools=["write"]).run(harness.request("write out.txt"), harness.emit)

    assert result.ok, result.error
    assert result.text == "wrote out.txt"
    assert (harness.workdir / "out.txt").read_text() == "done\n"
    assert any(
        isinstance(e, Activity) and e.kind == "tool_call" and "out.txt" in e.detail for e in harness.events
    )
    assert any(
        isinstance(e, Activity) and e.kind == "tool_result" and " ok:" in e.detail for e in harness.events
    )
    assert len(harness.server.requests) == 2


async def test_a_rate_limit_is_retryable_and_the_retry_succeeds(harness: Harness) -> None:
    # copilot retries a 429 five times itself (waiting at least a second each time; no setting turns
    # that off), so the script refuses six times to let the attempt fail.
    harness.server.script(*[rate_limited(0)] * 6, Reply("second time lucky"))
    engine = harness.engine()

    first = await engine.run(harness.request(), harness.emit)
    second = await engine.run(harness.request(), harness.emit)

    assert first.error is not None
    assert first.error.kind is ErrorKind.RATE_LIMITED
    assert first.error.kind.retryable
    assert "429" in first.error.message
    assert RateLimitSignal(None) in harness.events  # copilot already waited out the retry-after
    assert second.ok, second.error
    assert second.text == "second time lucky"


async def test_a_fatal_error_is_reported_with_its_cause(harness: Harness) -> None:
    # copilot retries a 401 twice (it may refresh a token), so the script refuses three times.
    harness.server.script(*[Failure(401, f"Incorrect API key provided: {API_KEY}")] * 3)

    result = await harness.engine().run(harness.request(), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.AUTH
    assert (
        "Authentication failed" in result.error.message
    )  # copilot words it; the server's text is not passed on
    assert "401" in result.error.message
    assert API_KEY not in result.error.message


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_a_timeout_or_cancel_kills_copilot_and_every_process_it_started(
    harness: Harness, tmp_path: Path, how: str
) -> None:
    started = fifo(tmp_path / "started.fifo")
    # The tool's shell says through the fifo that the tree is up, then waits.
    harness.server.script(
        ToolCall("bash", {"command": f"echo up > {started} && sleep 600", "description": "wait"})
    )
    engine = harness.engine(allow_all_tools=True)
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
    missing = await CopilotEngine({"binary": "/nonexistent/copilot"}).status()

    assert found.available, found.detail
    assert found.version == "1.0.102"
    assert not missing.available
    assert "npm install" in missing.detail

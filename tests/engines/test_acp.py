"""What only the acp engine does (a real ACP agent, `gemini --experimental-acp`); tests/engines/contract covers the rest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from parallelai.engines._cli.jsonrpc import RpcError
from parallelai.engines.acp import AcpEngine, AcpSettings, _kind_from_text, _Session
from parallelai.engines.base import Activity, EngineEvent, EngineRequest
from parallelai.models import ErrorKind, TaskOptions
from tests.support.model_server import Reply, ScriptedModelServer, ToolCall

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

MODEL = "gemini-2.5-flash"  # named, so the CLI skips its model-routing request


class Harness:
    def __init__(self, server: ScriptedModelServer, gemini: Path, tmp_path: Path) -> None:
        self.server = server
        self.gemini = gemini
        self.home = tmp_path / "gemini-home"  # also the marker that finds the agent's processes
        (self.home / ".gemini").mkdir(parents=True)
        (self.home / ".gemini" / "settings.json").write_text(
            json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}})
        )
        self.workdir = tmp_path / "work"
        self.workdir.mkdir()
        self.events: list[EngineEvent] = []

    def engine(self, **settings: Any) -> AcpEngine:
        env = {"GEMINI_CLI_HOME": str(self.home), "GEMINI_API_KEY": "gemini-test-key-0123",
               "GOOGLE_GEMINI_BASE_URL": self.server.url, "NO_COLOR": "1"}  # fmt: skip
        return AcpEngine(
            {"command": [str(self.gemini), "--experimental-acp", "-m", MODEL], "env": env, **settings}
        )

    def request(self, prompt: str = "say hello", **options: Any) -> EngineRequest:
        return EngineRequest(
            task_id="t1", prompt=prompt, model=None, options=TaskOptions(**options), workdir=self.workdir
        )

    def emit(self, event: EngineEvent) -> None:
        self.events.append(event)


@pytest.fixture
def harness(model_server: ScriptedModelServer, cli_bin: Callable[[str], Path], tmp_path: Path) -> Harness:
    return Harness(model_server, cli_bin("gemini"), tmp_path)


async def test_a_rejected_permission_leaves_the_file_unwritten(harness: Harness) -> None:
    target = harness.workdir / "out.txt"
    harness.server.script(
        ToolCall("write_file", {"file_path": str(target), "content": "x"}), Reply("could not")
    )

    result = await harness.engine(permissions="reject").run(harness.request(), harness.emit)

    assert result.ok, result.error
    assert not target.exists()
    assert any(isinstance(e, Activity) and e.detail.startswith("rejected") for e in harness.events)


async def test_with_client_fs_the_agent_reads_and_writes_through_us(harness: Harness) -> None:
    target = harness.workdir / "notes.txt"
    target.write_text("old\n")
    harness.server.script(
        ToolCall("write_file", {"file_path": str(target), "content": "new\n"}), Reply("done")
    )

    result = await harness.engine(client_fs=True).run(harness.request(), harness.emit)

    assert result.ok, result.error
    assert target.read_text() == "new\n"
    assert Activity("file_written", "notes.txt") in harness.events


def test_file_requests_outside_the_workdir_are_refused(tmp_path: Path) -> None:
    request = EngineRequest(task_id="t", prompt="p", model=None, options=TaskOptions(), workdir=tmp_path)
    session = _Session(AcpSettings(command=["agent"]), request, lambda event: None)

    assert session._inside_workdir("sub/file.txt") == tmp_path.resolve() / "sub" / "file.txt"
    with pytest.raises(RpcError, match="outside the task's workdir"):
        session._inside_workdir("../escape.txt")
    with pytest.raises(RpcError, match="outside the task's workdir"):
        session._inside_workdir("/etc/passwd")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('{"error":{"code":429,"message":"Resource has been exhausted"}}', ErrorKind.RATE_LIMITED),
        ('{"error":{"code":503,"message":"The model is overloaded"}}', ErrorKind.OVERLOADED),
        ('{"error":{"code":400,"message":"Invalid JSON payload"}}', ErrorKind.BAD_REQUEST),
        ("something else broke", ErrorKind.EXECUTION),
    ],
)
def test_provider_errors_passed_on_as_text_keep_their_kind(text: str, kind: ErrorKind) -> None:
    assert _kind_from_text(text) is kind


async def test_without_a_command_the_engine_says_what_to_set() -> None:
    engine = AcpEngine({})

    result = await engine.run(
        EngineRequest(task_id="t", prompt="p", model=None, options=TaskOptions(), workdir=Path.cwd()),
        lambda e: None,
    )

    assert result.error is not None
    assert "command" in result.error.message
    assert (await engine.status()).available

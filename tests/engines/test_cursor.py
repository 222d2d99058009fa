"""The cursor engine, against a fake `cursor-agent` that writes the documented stream-json.

Cursor's CLI is in no package registry, so these tests cannot run the real one; the fake lives in
tests/support/fake_cursor_agent.py and follows https://cursor.com/docs/cli/reference/output-format.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.engines.base import Activity, EngineEvent, EngineRequest, TextDelta
from parallelai.engines.cursor import CursorEngine
from parallelai.engines.registry import EngineRegistry
from parallelai.models import ErrorKind, TaskOptions
from tests.support.process_wait import wait_until_gone
from tests.support.processes import ProcessInfo, processes_with_env

pytestmark = pytest.mark.anyio

FAKE = Path(__file__).resolve().parents[1] / "support" / "fake_cursor_agent.py"


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.binary = tmp_path / "bin" / "cursor-agent"
        self.binary.parent.mkdir()
        self.binary.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
        self.binary.chmod(0o755)
        self.workdir = tmp_path / "work"
        self.workdir.mkdir()
        # Finds this test's processes, and no other's (other pytest runs may be going on at once).
        self.marker = f"parallelai-cursor-test-{uuid.uuid4().hex}"
        self.events: list[EngineEvent] = []
        self.session_started = anyio.Event()

    def engine(self, scenario: str, **settings: Any) -> CursorEngine:
        env = {"FAKE_CURSOR_SCENARIO": scenario, "FAKE_MARKER": self.marker}
        return CursorEngine({"binary": str(self.binary), "env": env, **settings})

    def request(self, prompt: str = "say hello", **options: Any) -> EngineRequest:
        return EngineRequest(
            task_id="t1", prompt=prompt, model=None, options=TaskOptions(**options), workdir=self.workdir
        )

    def emit(self, event: EngineEvent) -> None:
        self.events.append(event)
        if isinstance(event, Activity) and event.kind == "session":
            self.session_started.set()


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


async def test_an_answer_comes_back_with_its_session(harness: Harness) -> None:
    result = await harness.engine("answer").run(harness.request("what is 2+2?"), harness.emit)

    assert result.ok, result.error
    assert result.text == "answer to: what is 2+2?"
    assert result.session_id
    assert TextDelta("answer to: what is 2+2?") in harness.events


async def test_options_become_flags_and_a_dash_prompt_stays_the_prompt(harness: Harness) -> None:
    engine = harness.engine("echo_args", model="gpt-5", force=True, resume="abc-123")

    result = await engine.run(harness.request("--help me"), harness.emit)

    argv = json.loads(result.text.removeprefix("argv: "))
    assert argv[:3] == ["-p", "--output-format", "stream-json"]
    assert argv[argv.index("--model") + 1] == "gpt-5"
    assert "--force" in argv
    assert argv[argv.index("--resume") + 1] == "abc-123"
    assert argv[-2:] == ["--", "--help me"]


async def test_a_write_tool_call_creates_the_file_in_the_task_workdir(harness: Harness) -> None:
    result = await harness.engine("write", force=True).run(harness.request("write a file"), harness.emit)

    assert result.ok, result.error
    assert (harness.workdir / "out" / "hello.txt").read_text() == "written by cursor\n"
    assert Activity("tool_call", "writeToolCall path=out/hello.txt") in harness.events
    assert Activity("tool_result", "writeToolCall path=out/hello.txt") in harness.events


async def test_a_cli_that_lingers_after_its_result_is_killed_and_the_result_kept(harness: Harness) -> None:
    with anyio.fail_after(30):
        result = await harness.engine("linger", exit_grace_s=0.1, kill_grace_s=0.2).run(
            harness.request(), harness.emit
        )

    assert result.ok, result.error
    assert result.text == "answer to: say hello"
    assert await wait_until_gone(set(), harness.marker) == []


async def test_an_error_result_is_a_failure_with_its_message(harness: Harness) -> None:
    result = await harness.engine("error_result").run(harness.request(), harness.emit)

    assert result.error is not None
    assert result.error.kind is ErrorKind.EXECUTION
    assert "the model refused the request" in result.error.message


@pytest.mark.parametrize(
    ("scenario", "kind"), [("rate_limited", ErrorKind.RATE_LIMITED), ("auth", ErrorKind.AUTH)]
)
async def test_failures_without_a_result_are_classified_from_stderr(
    harness: Harness, scenario: str, kind: ErrorKind
) -> None:
    result = await harness.engine(scenario).run(harness.request(), harness.emit)

    assert result.error is not None
    assert result.error.kind is kind
    assert "without a result" in result.error.message


async def test_a_hung_cli_times_out_and_its_whole_tree_is_killed(harness: Harness) -> None:
    with anyio.fail_after(30):
        result = await harness.engine("hang", timeout_s=1.0, kill_grace_s=0.2).run(
            harness.request(), harness.emit
        )

    assert result.error is not None
    assert result.error.kind is ErrorKind.TIMEOUT
    assert await wait_until_gone(set(), harness.marker) == []


async def test_cancelling_kills_the_cli_and_the_grandchild_in_its_own_session(harness: Harness) -> None:
    engine = harness.engine("hang", kill_grace_s=0.2)
    sessions: set[int] = set()
    seen: list[ProcessInfo] = []

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            with anyio.CancelScope() as scope:

                async def cancel_once_started() -> None:
                    await harness.session_started.wait()
                    seen.extend(processes_with_env(harness.marker))
                    sessions.update(p.sid for p in seen)
                    scope.cancel()

                group.start_soon(cancel_once_started)
                await engine.run(harness.request(), harness.emit)

    assert scope.cancelled_caught
    assert len(sessions) == 2, seen  # the CLI's own session and the grandchild's
    assert await wait_until_gone(sessions, harness.marker) == []


async def test_a_missing_binary_is_reported_with_how_to_install() -> None:
    engine = CursorEngine({"binary": "/nonexistent/cursor-agent"})

    status = await engine.status()

    assert not status.available
    assert "cursor.com/install" in status.detail


async def test_status_reports_the_version_of_the_cli(harness: Harness) -> None:
    status = await harness.engine("answer").status()

    assert status.available
    assert status.version == "2026.01.01-fake"


def test_the_engine_is_registered_through_its_entry_point() -> None:
    assert isinstance(EngineRegistry.from_entry_points().create("cursor", {}), CursorEngine)

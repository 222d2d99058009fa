"""Failover: a task its engine refuses for good (overload, a rate limit it cannot wait out, an
outage) moves to the next engine of its list; one that fails on its own merits stays failed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from parallelai.cli.run_flags import add_run_flags
from parallelai.config import environment_defaults
from parallelai.events import Event, RunFinished, TaskStateChanged
from parallelai.models import ErrorKind, RunLimits, RunSpec, RunState, Task, TaskOptions, TaskState, Usage
from parallelai.orchestration.service import OrchestrationService
from parallelai.orchestration.task_slots import Resumption, build_slots, restore
from parallelai.run_request import RunSettings, TaskInput, build_request
from parallelai.tasksfile import spec_from_mapping
from tests.orchestration._support import run_to_end
from tests.support.model_server import Failure, Reply, ScriptedModelServer

OPENAI = "openai:gpt-4.1"
ANTHROPIC = "anthropic:claude-sonnet-4-5"


@pytest.fixture
def providers(
    model_server: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> dict[str, dict[str, str]]:
    """Both HTTP engines pointed at the scripted server; their settings for a run."""
    monkeypatch.setenv("OPENAI_BASE_URL", f"{model_server.url}/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", model_server.url)
    return {
        "openai": {"api_key": "sk-test-openai-0123456789abcdef"},
        "anthropic": {"api_key": "sk-ant-api-test-abcdef0123456789"},
    }


def _spec(tasks: list[Task], settings: dict[str, dict[str, str]]) -> RunSpec:
    return RunSpec(
        tasks=tasks, engine_settings=settings, limits=RunLimits(backoff_base_s=0.001), use_cache=False
    )


def _task(task_id: str, prompt: str, engines: list[str], retries: int = 2) -> Task:
    """A task as a tasks file writes it: `engine: [its engine, fallback, …]`."""
    return Task.model_validate(
        {"id": task_id, "prompt": prompt, "engine": engines, "options": {"retries": retries}}
    )


def _moves(events: Sequence[Event]) -> list[str]:
    return [
        event.reason or ""
        for event in events
        if isinstance(event, TaskStateChanged) and (event.reason or "").startswith("moved to")
    ]


@pytest.mark.anyio
async def test_an_overloaded_task_moves_to_its_fallback_and_the_run_counts_both_engines(
    service: OrchestrationService, model_server: ScriptedModelServer, providers: dict[str, dict[str, str]]
) -> None:
    model_server.script_for("MOVE", Failure(529, "overloaded"), Reply("from anthropic", 30, 5))
    model_server.script_for("STAY", Reply("from openai", 12, 7))
    spec = _spec(
        [
            _task("moving", "MOVE please", [OPENAI, ANTHROPIC]),
            Task(id="staying", prompt="STAY please", engine=OPENAI),
        ],
        providers,
    )

    summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.SUCCEEDED
    moving = await service.task(summary.id, "moving")
    assert moving.result is not None
    assert moving.result.text == "from anthropic"
    assert [attempt.engine for attempt in moving.attempts] == [OPENAI, ANTHROPIC]
    assert moving.attempts[0].error is not None
    assert moving.attempts[0].error.kind is ErrorKind.OVERLOADED
    [moved] = _moves(events)
    assert moved.startswith(f"moved to {ANTHROPIC} after: overloaded")
    # The run's spending is both engines': anthropic's answer (30 + 5) and openai's (12 + 7).
    assert (summary.usage.input_tokens, summary.usage.output_tokens) == (42, 12)
    [finished] = [event for event in events if isinstance(event, RunFinished)]
    assert (finished.usage.input_tokens, finished.usage.output_tokens) == (42, 12)


@pytest.mark.anyio
async def test_a_retry_after_beyond_the_ceiling_moves_the_task_at_once(
    service: OrchestrationService, model_server: ScriptedModelServer, providers: dict[str, dict[str, str]]
) -> None:
    model_server.script_for(
        "LIMITED", Failure(429, "quota spent", headers={"retry-after": "9999"}), Reply("answered elsewhere")
    )
    spec = _spec([_task("limited", "LIMITED", [OPENAI, ANTHROPIC])], providers)

    summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.SUCCEEDED
    record = await service.task(summary.id, "limited")
    assert [attempt.engine for attempt in record.attempts] == [OPENAI, ANTHROPIC]
    [moved] = _moves(events)
    assert moved.startswith(f"moved to {ANTHROPIC} after: rate_limited")
    assert len(model_server.requests) == 2  # the rate-limited engine was not asked again


@pytest.mark.anyio
async def test_a_rate_limited_task_uses_its_retries_before_it_moves(
    service: OrchestrationService, model_server: ScriptedModelServer, providers: dict[str, dict[str, str]]
) -> None:
    refused = Failure(429, "slow down", headers={"retry-after": "0"})
    model_server.script_for("BUSY", refused, refused, Reply("at last"))
    task = Task(
        id="busy", prompt="BUSY", engine=OPENAI, fallbacks=[ANTHROPIC], options=TaskOptions(retries=1)
    )

    summary, _ = await run_to_end(service, _spec([task], providers))

    record = await service.task(summary.id, "busy")
    assert record.state is TaskState.SUCCEEDED
    assert [attempt.engine for attempt in record.attempts] == [OPENAI, OPENAI, ANTHROPIC]


@pytest.mark.anyio
async def test_a_task_fails_once_its_last_engine_refuses_it_too(
    service: OrchestrationService, model_server: ScriptedModelServer, providers: dict[str, dict[str, str]]
) -> None:
    model_server.script_for("DOWN", Failure(529, "overloaded"), Failure(529, "overloaded too"))
    task = _task("down", "DOWN", [OPENAI, ANTHROPIC], retries=0)

    summary, _ = await run_to_end(service, _spec([task], providers))

    record = await service.task(summary.id, "down")
    assert summary.state is RunState.FAILED
    assert record.state is TaskState.FAILED
    assert record.reason is not None
    assert record.reason.startswith("overloaded")
    assert [attempt.engine for attempt in record.attempts] == [OPENAI, ANTHROPIC]


@pytest.mark.anyio
async def test_the_runs_fallbacks_back_tasks_without_an_engine_of_their_own(
    service: OrchestrationService, model_server: ScriptedModelServer, providers: dict[str, dict[str, str]]
) -> None:
    model_server.script_for("RUNWIDE", Failure(503, "unavailable"), Reply("fallback answered"))
    spec = _spec([Task(id="plain", prompt="RUNWIDE")], providers).model_copy(
        update={"default_engine": OPENAI, "fallbacks": [ANTHROPIC]}
    )

    summary, _ = await run_to_end(service, spec)

    record = await service.task(summary.id, "plain")
    assert record.state is TaskState.SUCCEEDED
    assert [attempt.engine for attempt in record.attempts] == [OPENAI, ANTHROPIC]


@pytest.mark.anyio
async def test_a_command_failing_on_its_own_does_not_move(service: OrchestrationService) -> None:
    spec = RunSpec(
        tasks=[_task("broken", "x", ["command", "echo"])],
        engine_settings={"command": {"argv": [sys.executable, "-c", "import sys; sys.exit(1)"]}},
        use_cache=False,
    )

    summary, events = await run_to_end(service, spec)

    record = await service.task(summary.id, "broken")
    assert record.state is TaskState.FAILED
    assert [attempt.engine for attempt in record.attempts] == ["command"]
    assert _moves(events) == []


@pytest.mark.anyio
async def test_a_command_asking_to_try_again_moves_once_its_retries_are_used(
    service: OrchestrationService,
) -> None:
    # Exit 75 (EX_TEMPFAIL) is a transient failure: once retried, an outage, so the task moves.
    spec = RunSpec(
        tasks=[_task("flaky", "x", ["command", "echo"], retries=1)],
        engine_settings={"command": {"argv": [sys.executable, "-c", "import sys; sys.exit(75)"]}},
        limits=RunLimits(backoff_base_s=0.001),
        use_cache=False,
    )

    summary, _ = await run_to_end(service, spec)

    record = await service.task(summary.id, "flaky")
    assert record.state is TaskState.SUCCEEDED
    assert [attempt.engine for attempt in record.attempts] == ["command", "command", "echo"]


def test_a_resumed_task_goes_on_on_the_engine_it_moved_to() -> None:
    spec = RunSpec(tasks=[_task("t", "x", ["command", "echo:fast"])])
    slots = build_slots(spec)
    resumption = Resumption(
        states={"t": TaskState.INTERRUPTED},
        outputs={},
        attempts={"t": 3},
        spent=Usage(),
        reused=0,
        engines={"t": ("echo:fast", 1)},
    )

    restore(slots, resumption)

    assert (str(slots["t"].engine), slots["t"].tries_here, slots["t"].moved) == ("echo:fast", 1, True)


# -- the forms users write --------------------------------------------------------------------


def test_an_engine_list_is_the_engine_then_its_fallbacks_in_every_form() -> None:
    task = Task.model_validate({"prompt": "p", "engine": ["openai:gpt-4.1", "anthropic"]})
    given = TaskInput.model_validate({"prompt": "p", "engine": ["codex", "claude-code"]})
    settings = RunSettings.model_validate({"engine": ["claude-code", "codex", "gemini"]})
    request = build_request(prompts=["p"], engine="claude-code", fallbacks=["codex"])

    assert (task.engine, task.fallbacks) == ("openai:gpt-4.1", ["anthropic"])
    assert (given.engine, given.fallbacks) == ("codex", ["claude-code"])
    assert (settings.engine, settings.fallbacks) == ("claude-code", ["codex", "gemini"])
    assert (request.engine, request.fallbacks) == ("claude-code", ["codex"])
    assert Task(prompt="p", engine="codex").fallbacks == []  # one name still works


def test_a_tasks_file_lists_fallbacks_for_the_run_and_for_one_task(tmp_path: Path) -> None:
    spec = spec_from_mapping(
        {
            "engine": ["echo", "echo:backup"],
            "limits": {"deadline_s": 60},
            "tasks": ["plain", {"id": "own", "prompt": "p", "engine": ["echo:own", "echo:spare"]}],
        },
        RunSettings(workdir=str(tmp_path)),
    )

    assert (spec.default_engine, spec.fallbacks) == ("echo", ["echo:backup"])
    own = next(task for task in spec.tasks if task.id == "own")
    assert (own.engine, own.fallbacks) == ("echo:own", ["echo:spare"])
    assert spec.limits.deadline_s == 60


def test_fallback_flags_win_over_the_files_and_follow_the_engine_they_back(tmp_path: Path) -> None:
    flags = RunSettings(workdir=str(tmp_path), fallbacks=["echo:flag"])
    spec = spec_from_mapping({"engine": ["echo", "echo:file"], "tasks": ["p"]}, flags)
    config = RunSettings(engine="echo:config", fallbacks=["echo:config-backup"])

    assert spec.fallbacks == ["echo:flag"]
    assert RunSettings(engine="echo").over(config).fallbacks == []  # another engine, not the config's backup
    assert RunSettings().over(config).fallbacks == ["echo:config-backup"]


def test_the_environment_names_fallbacks_separated_by_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARALLELAI_ENGINE", "echo")
    monkeypatch.setenv("PARALLELAI_FALLBACKS", "echo:backup, echo:spare")

    assert environment_defaults().fallbacks == ["echo:backup", "echo:spare"]


def test_the_command_line_takes_fallbacks_and_a_deadline() -> None:
    parser = argparse.ArgumentParser()
    add_run_flags(parser)

    args = parser.parse_args(["--fallback", "codex", "--fallback", "gemini", "--deadline", "90"])

    assert (args.fallback, args.deadline) == (["codex", "gemini"], 90.0)


def test_the_python_api_and_the_template_verbs_carry_the_run_s_fallbacks_and_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from parallelai.api import ParallelOrchestrator
    from parallelai.facade import ParallelAI

    spec = ParallelOrchestrator(engine="echo", fallbacks=["codex"], deadline_s=60).spec(["a"])
    assert (spec.fallbacks, spec.limits.deadline_s) == (["codex"], 60)

    (tmp_path / "app.py").write_text("old_api()\n")
    plan = ParallelAI("echo", workdir=tmp_path, fallbacks=["codex"], deadline_s=60).plan(
        "refactoring", pattern="old_api", to="new_api", files=["*.py"]
    )
    assert (plan.spec.fallbacks, plan.spec.limits.deadline_s) == (["codex"], 60)

"""Engines as objects (`ClaudeCode()`), and the other names users type for engines (`claude_code`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from parallelai import ParallelOrchestrator, Task, TaskState
from parallelai.engines import registry as registry_module
from parallelai.engines.base import Emit, Engine, EngineRequest, EngineStatus
from parallelai.engines.echo import EchoEngine
from parallelai.engines.registry import EngineRegistry, default_registry
from parallelai.errors import InputError, UnknownEngineError
from parallelai.models import RunSpec, TaskResult
from parallelai.orchestration.service import OrchestrationService
from parallelai.orchestration.spec_check import plan_spec
from parallelai.planning import plan_request
from parallelai.run_request import build_request
from parallelai.tasksfile import spec_from_file
from tests.support.model_server import Reply, ScriptedModelServer


def _planned(**request: Any) -> RunSpec:
    """A request planned as every surface plans it, through the last check of every run."""
    return plan_spec(plan_request(build_request(**request)), default_registry())


def test_the_announcements_import_line_gives_one_class_per_engine() -> None:
    from parallelai.engines import ChatGPT, ClaudeCode, Copilot, Cursor

    assert ClaudeCode().spec == "claude-code"
    assert Cursor().spec == "cursor"
    assert Copilot().spec == "copilot"
    assert ChatGPT(model="gpt-4.1").spec == "openai:gpt-4.1"


def test_every_engine_class_stands_for_its_registered_engine() -> None:
    from parallelai import engines

    names = {
        "ClaudeCode": "claude-code", "Codex": "codex", "GeminiCli": "gemini-cli", "Copilot": "copilot",
        "Cursor": "cursor", "OpenAI": "openai", "ChatGPT": "openai", "Anthropic": "anthropic",
        "Ollama": "ollama", "Echo": "echo",
    }  # fmt: skip
    for class_name, engine_name in names.items():
        assert getattr(engines, class_name)().name == engine_name
    assert engines.Command(argv=["cat"]).name == "command"
    assert engines.Acp(command=["agent"]).name == "acp"
    assert set(registry_module.default_registry().names()) <= {
        getattr(engines, name).engine for name in engines.__all__ if name != "EngineChoice"
    }


def test_an_orchestrator_given_an_engine_object_runs_on_it_with_its_settings() -> None:
    from parallelai.engines import Echo

    results = ParallelOrchestrator(engine=Echo(reply="done: {prompt}"), max_parallel=4).execute(["a", "b"])

    assert results.ok
    assert [record.result.text for record in results if record.result] == ["done: a", "done: b"]


def test_an_engine_object_plans_exactly_the_run_its_name_plans() -> None:
    from parallelai.engines import ClaudeCode, EngineChoice

    by_object = ParallelOrchestrator(engine=ClaudeCode(), max_parallel=100).spec(["a"])
    by_name = ParallelOrchestrator(engine="claude-code", max_parallel=100).spec(["a"])

    assert by_object == by_name
    assert ClaudeCode() == EngineChoice("claude_code")
    with_model = ParallelOrchestrator(engine=ClaudeCode(model="sonnet", max_turns=3)).spec(["a"])
    assert with_model.default_engine == "claude-code:sonnet"
    assert with_model.engine_settings == {"claude-code": {"max_turns": 3}}


@pytest.mark.e2e
def test_the_announcements_orchestrator_runs_its_tasks_on_claude_code(
    model_server: ScriptedModelServer, cli_bin: Callable[[str], Path], tmp_path: Path
) -> None:
    from parallelai.engines import ClaudeCode

    model_server.script_for("[a]", Reply("answer a"))
    model_server.script_for("[b]", Reply("answer b"))
    engine = ClaudeCode(
        binary=str(cli_bin("claude")),
        base_url=model_server.url,
        api_key="sk-ant-test-0123456789abcdef",
        config_root=str(tmp_path / "claude-config"),
        inherit_config_from="",  # never the developer's own ~/.claude
        cli_max_retries=0,
        launch_interval_s=0,
    )

    results = ParallelOrchestrator(engine=engine, max_parallel=100).execute(["[a] one", "[b] two"])

    assert results.ok, [record.result.error for record in results if record.result]
    assert [record.result.text for record in results if record.result] == ["answer a", "answer b"]


def test_a_misspelt_setting_is_an_input_error_naming_it_and_the_setting_meant() -> None:
    from parallelai.engines import ClaudeCode, Echo

    with pytest.raises(InputError, match=r"`modle` is not a setting of the claude-code engine") as caught:
        ClaudeCode(modle="x")
    assert "did you mean 'model'?" in str(caught.value)
    with pytest.raises(InputError, match=r"Echo\(\): `latency`: .*greater than or equal to 0"):
        Echo(latency=-1)
    with pytest.raises(InputError, match="`model` is not a setting of the echo engine"):
        Echo(model="x")


def test_an_engine_object_for_an_unknown_engine_suggests_the_closest_name() -> None:
    from parallelai.engines import EngineChoice

    with pytest.raises(UnknownEngineError, match=r"did you mean 'claude-code'\?"):
        EngineChoice("claude-cod")


def test_secret_settings_stay_out_of_an_engine_objects_repr() -> None:
    from parallelai.engines import ClaudeCode

    shown = repr(ClaudeCode(model="sonnet", api_key="sk-ant-secret"))

    assert shown == "ClaudeCode(model='sonnet', api_key=***)"


class _PluginSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    greeting: str = "hi"


class _PluginEngine:
    """A third-party engine as an entry point would name it: a class declaring its settings model."""

    name = "my-engine"
    settings_model = _PluginSettings

    def __init__(self, settings: Mapping[str, Any]) -> None:
        greeting = _PluginSettings.model_validate(settings).greeting
        self._echo = EchoEngine({"reply": f"{greeting}, {{prompt}}"})

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        return await self._echo.run(request, emit)

    async def status(self) -> EngineStatus:
        return EngineStatus(name=self.name, available=True)

    async def aclose(self) -> None:
        return None


def test_a_plugin_engine_object_is_checked_against_the_settings_its_engine_declares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from parallelai.engines import EngineChoice

    factories: dict[str, Any] = {"echo": EchoEngine, "my-engine": _PluginEngine}
    monkeypatch.setattr(registry_module, "_default", EngineRegistry(factories))

    chosen = EngineChoice("my_engine", greeting="hello")
    with pytest.raises(InputError, match=r"EngineChoice\('my-engine'\): `greting` is not a setting"):
        EngineChoice("my-engine", greting="hello")

    assert chosen.spec == "my-engine"
    assert chosen.settings == {"greeting": "hello"}
    results = ParallelOrchestrator(engine=chosen).execute(["you"])
    assert [record.result.text for record in results if record.result] == ["hello, you"]


def test_a_task_given_an_engine_object_stores_the_name_and_its_settings_as_engine_options() -> None:
    from parallelai.engines import Echo

    task = Task(id="t", prompt="p", engine=Echo(reply="from the task"))

    assert task.engine == "echo"
    assert task.options.engine_options == {"reply": "from the task"}
    assert Task.model_validate_json(task.model_dump_json()) == task
    results = ParallelOrchestrator(engine="echo", timeout=30).execute(
        [task, {"prompt": "q", "engine": Echo()}]
    )
    first, second = results
    assert first.result is not None
    assert first.result.text == "from the task"
    assert first.task.options.timeout == 30  # engine settings alone leave the run's options to it
    assert second.result is not None
    assert second.result.text == "echo: q"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("claude_code", "claude-code"),
        ("github-copilot", "copilot"),
        ("chatgpt", "openai"),
        ("gemini", "gemini-cli"),
        ("gemini_cli", "gemini-cli"),
        ("ChatGPT:gpt-4.1", "openai:gpt-4.1"),
    ],
)
def test_the_names_the_announcement_uses_plan_runs_on_the_registered_engines(typed: str, meant: str) -> None:
    spec = _planned(prompts=["p"], engine=typed)

    assert spec.default_engine == meant


def test_aliases_in_tasks_settings_and_limits_are_stored_under_the_registered_names() -> None:
    spec = _planned(
        tasks=[{"prompt": "p", "engine": "github_copilot"}],
        engine="claude_code",
        engine_options={"max_turns": 3},
        engines={"claude-code": {"model": "sonnet", "max_turns": 1}, "chatgpt": {"model": "gpt-4.1"}},
        per_engine={"github-copilot": 2},
    )

    assert spec.default_engine == "claude-code"
    assert spec.tasks[0].engine == "copilot"
    assert spec.engine_settings == {
        "claude-code": {"model": "sonnet", "max_turns": 3},  # the run engine's own options win
        "openai": {"model": "gpt-4.1"},
    }
    assert spec.limits.per_engine == {"copilot": 2}


def test_a_tasks_file_may_name_engines_as_the_announcement_does(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text("engine: claude_code\ntasks:\n  - prompt: a\n  - prompt: b\n    engine: gemini\n")

    spec = plan_spec(spec_from_file(path, build_request(tasks_file=str(path)).settings), default_registry())

    assert spec.default_engine == "claude-code"
    assert [task.engine for task in spec.tasks] == [None, "gemini-cli"]


def test_an_unknown_engine_name_suggests_the_engine_an_alias_means() -> None:
    with pytest.raises(UnknownEngineError, match=r"unknown engine 'chatgtp' \(did you mean 'openai'\?\)"):
        _planned(prompts=["p"], engine="chatgtp")


@pytest.mark.anyio
async def test_an_alias_finds_the_cached_answers_of_the_registered_name() -> None:
    def claude_code_stand_in(settings: Mapping[str, Any]) -> Engine:
        return EchoEngine(settings)

    registry = EngineRegistry({"claude-code": claude_code_stand_in})
    async with OrchestrationService.open(registry=registry) as service:
        first = await service.run(plan_request(build_request(prompts=["same"], engine="claude-code")))
        again = await service.run(plan_request(build_request(prompts=["same"], engine="claude_code")))
        records = await service.tasks(again.id)

    assert first.counts[TaskState.SUCCEEDED] == 1
    assert again.reused == 1
    assert records[0].result is not None
    assert records[0].result.reused

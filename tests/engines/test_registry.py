"""The engine registry: entry points in, engines out, and a helpful error for a typo."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from parallelai.engines.base import Engine
from parallelai.engines.claude_code import ClaudeCodeSettings
from parallelai.engines.command import CommandEngine
from parallelai.engines.echo import EchoEngine, EchoSettings
from parallelai.engines.registry import ENTRY_POINT_GROUP, EngineRegistry, default_registry
from parallelai.errors import InputError, UnknownEngineError


def test_built_in_engines_are_discovered_through_the_entry_point_group() -> None:
    registry = EngineRegistry.from_entry_points()

    assert ENTRY_POINT_GROUP == "parallelai.engines"
    assert {"echo", "command"} <= set(registry.names())
    assert registry.names() == sorted(registry.names())
    assert isinstance(registry.create("echo"), EchoEngine)
    assert isinstance(registry.create("command", {"argv": ["true"]}), CommandEngine)


def test_the_default_registry_is_read_once() -> None:
    assert default_registry() is default_registry()
    assert "echo" in default_registry()


def test_an_unknown_engine_names_the_known_ones_and_suggests_the_closest() -> None:
    registry = EngineRegistry.from_entry_points()

    with pytest.raises(UnknownEngineError) as caught:
        registry.create("ecoh")

    error = caught.value
    assert isinstance(error, InputError)
    assert error.exit_code == 2
    assert error.name == "ecoh"
    assert "did you mean 'echo'?" in str(error)
    assert "echo" in error.known
    assert "command" in error.known
    with pytest.raises(UnknownEngineError):
        registry.require(["echo", "nope"])


def test_aliases_and_other_spellings_name_the_registered_engine() -> None:
    registry = EngineRegistry.from_entry_points()

    assert registry.canonical("claude_code") == "claude-code"
    assert registry.canonical("GitHub-Copilot") == "copilot"
    assert registry.canonical("chatgpt") == "openai"
    assert registry.canonical("gemini") == "gemini-cli"
    assert isinstance(registry.create("Echo"), EchoEngine)
    registry.require(["claude_code", "github_copilot"])


def test_an_alias_of_an_engine_not_installed_names_nothing() -> None:
    registry = EngineRegistry({"echo": EchoEngine})

    assert registry.aliases() == {}
    assert registry.resolve("chatgpt") is None
    with pytest.raises(UnknownEngineError, match="known engines: echo"):
        registry.canonical("chatgpt")


def test_a_factory_may_declare_the_model_of_its_settings() -> None:
    registry = EngineRegistry.from_entry_points()

    assert registry.settings_model("echo") is EchoSettings
    assert registry.settings_model("claude_code") is ClaudeCodeSettings

    def undeclared(settings: Mapping[str, Any]) -> Engine:
        return EchoEngine(settings)

    assert EngineRegistry({"plain": undeclared}).settings_model("plain") is None


def test_a_registered_factory_gets_its_settings() -> None:
    seen: list[Mapping[str, Any]] = []

    def factory(settings: Mapping[str, Any]) -> Engine:
        seen.append(settings)
        return EchoEngine(settings)

    registry = EngineRegistry({"custom": factory})
    engine = registry.create("custom", {"latency": 0.5})

    assert isinstance(engine, EchoEngine)
    assert seen == [{"latency": 0.5}]
    assert "custom" in registry
    assert "echo" not in registry


def test_a_lazy_entry_is_imported_only_when_first_created() -> None:
    registry = EngineRegistry()
    registry.register_lazy("broken", "parallelai.engines.no_such_module:Engine")
    registry.register_lazy("echo", "parallelai.engines.echo:EchoEngine")

    assert registry.names() == ["broken", "echo"]  # listing never imports
    assert isinstance(registry.create("echo"), EchoEngine)
    with pytest.raises(ModuleNotFoundError):
        registry.create("broken")

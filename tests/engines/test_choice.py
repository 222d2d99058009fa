"""Choosing the engine nobody named: the first real assistant ready here, never `echo`."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai.engines.choice import AUTO_ORDER, default_engine
from parallelai.errors import InputError, NoEngineError


def install(bin_dir: Path, *names: str) -> None:
    """Put executables with these names on PATH; choosing an engine never starts them."""
    for name in names:
        program = bin_dir / name
        program.write_text("#!/bin/sh\nexit 1\n")
        program.chmod(0o755)


def test_with_no_assistant_ready_the_error_says_why_and_how_to_name_one(bare_machine: Path) -> None:
    with pytest.raises(NoEngineError) as raised:
        default_engine()

    message = str(raised.value)
    assert isinstance(raised.value, InputError)  # exit code 2, nothing started
    assert [name for name, _ in raised.value.not_ready] == list(AUTO_ORDER)
    assert "'claude' not found" in message
    for guidance in (
        "--engine",
        "PARALLELAI_ENGINE",
        "[run]",
        ".parallelai/config.toml",
        "parallelai engines",
    ):
        assert guidance in message
    assert "--engine echo" in message  # the dry run is offered, never taken


def test_the_first_assistant_in_the_documented_order_that_is_installed_and_signed_in_is_chosen(
    bare_machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(bare_machine, "gemini", "codex")
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    assert default_engine() == "codex"

    install(bare_machine, "claude")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    assert default_engine() == "claude-code"


def test_an_assistant_installed_but_not_signed_in_is_passed_over(
    bare_machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(bare_machine, "claude", "gemini")
    monkeypatch.setenv("GEMINI_API_KEY", "k")

    assert default_engine() == "gemini-cli"


def test_an_api_key_alone_chooses_no_api_engine(bare_machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The API engines need a model named; a key in the environment does not make them the default.
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")

    with pytest.raises(NoEngineError):
        default_engine()

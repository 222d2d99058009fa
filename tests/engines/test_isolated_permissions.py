"""In a run with isolation an agent works in a worktree of its own, whose change parallelai checks
and merges: the CLIs that ask before editing are told they may, unless their settings say otherwise."""

from __future__ import annotations

from pathlib import Path

from parallelai.engines.base import EngineRequest
from parallelai.engines.claude_code import ClaudeCodeSettings
from parallelai.engines.claude_code import build_arguments as claude_arguments
from parallelai.engines.gemini_cli import GeminiCliSettings
from parallelai.engines.gemini_cli import build_arguments as gemini_arguments
from parallelai.models import TaskOptions


def _request(*, isolated: bool) -> EngineRequest:
    return EngineRequest(
        task_id="t", prompt="p", model=None, options=TaskOptions(), workdir=Path("/w"), isolated=isolated
    )


def _flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def test_claude_code_accepts_edits_in_its_own_worktree_and_asks_as_usual_elsewhere() -> None:
    settings = ClaudeCodeSettings()
    assert (
        _flag(claude_arguments(settings, _request(isolated=True), None), "--permission-mode") == "acceptEdits"
    )
    assert _flag(claude_arguments(settings, _request(isolated=False), None), "--permission-mode") is None


def test_a_permission_mode_the_user_set_wins_in_a_worktree_too() -> None:
    settings = ClaudeCodeSettings(permission_mode="plan")
    assert _flag(claude_arguments(settings, _request(isolated=True), None), "--permission-mode") == "plan"


def test_gemini_auto_edits_in_its_own_worktree_unless_its_approval_mode_is_set() -> None:
    assert (
        _flag(gemini_arguments(GeminiCliSettings(), "p", None, isolated=True), "--approval-mode")
        == "auto_edit"
    )
    assert _flag(gemini_arguments(GeminiCliSettings(), "p", None), "--approval-mode") is None
    chosen = GeminiCliSettings(approval_mode="plan")
    assert _flag(gemini_arguments(chosen, "p", None, isolated=True), "--approval-mode") == "plan"

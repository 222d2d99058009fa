"""The engines: one module per assistant, the registry, and engines as objects (`ClaudeCode()`).

The classes users construct (`from parallelai.engines import ClaudeCode`) live in `chosen.py` and
are looked up on first use (PEP 562), so importing one engine module, or the registry, never
pays for the others: `parallelai mcp` starts without them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parallelai.engines.chosen import (
        Acp,
        Anthropic,
        ChatGPT,
        ClaudeCode,
        Codex,
        Command,
        Copilot,
        Cursor,
        Echo,
        EngineChoice,
        GeminiCli,
        Ollama,
        OpenAI,
    )

__all__ = [
    "Acp",
    "Anthropic",
    "ChatGPT",
    "ClaudeCode",
    "Codex",
    "Command",
    "Copilot",
    "Cursor",
    "Echo",
    "EngineChoice",
    "GeminiCli",
    "Ollama",
    "OpenAI",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("parallelai.engines.chosen"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

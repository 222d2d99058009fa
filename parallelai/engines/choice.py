"""The engine a run uses when nobody named one: the first real assistant ready here, never `echo`.

Asked only when no flag, no tasks file or template, no PARALLELAI_ENGINE and no config file
names an engine (planning.py). It goes through `AUTO_ORDER` and takes the first engine whose
`ready()` says it is installed and signed in. That check reads PATH, the environment and
credential files only: no process is started, nothing goes over the network, no model is asked,
so choosing costs microseconds and says the same thing every time on the same machine.

The API engines (anthropic, openai, ollama) are never picked: each needs a model named
(`openai:gpt-4.1`), and telling whether Ollama runs takes a network call. `echo` is never picked
either: it fabricates canned answers, so it runs only when it is asked for by name.
"""

from __future__ import annotations

from parallelai.engines.base import ReadyCheck
from parallelai.engines.registry import EngineRegistry, default_registry
from parallelai.errors import NoEngineError

# The coding agents, most widely used first; docs/config.md lists the same order.
AUTO_ORDER = ("claude-code", "codex", "gemini-cli", "copilot", "cursor")


def default_engine(registry: EngineRegistry | None = None) -> str:
    """The first engine of `AUTO_ORDER` ready here; NoEngineError, saying how to name one, if none is."""
    registry = registry or default_registry()
    not_ready: list[tuple[str, str]] = []
    for name in AUTO_ORDER:
        if name not in registry:
            continue
        engine = registry.create(name)
        if not isinstance(engine, ReadyCheck):
            continue
        status = engine.ready()
        if status.available:
            return name
        not_ready.append((name, status.detail))
    raise NoEngineError(not_ready)
